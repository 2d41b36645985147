// A seeded mutation fuzzer over small valid shards and images (after OSS-Fuzz's targets for libarchive
// and libpng): bit flips, truncation at every block boundary, header fields set to extremes, members
// reordered, duplicated or dropped, images with extreme sizes in their headers, labels out of range.
// Each case goes in-process through the reading and decoding paths (tar reader, grouping, the label
// set training keeps, metadata, writing back, format check, header probe, decode) and must end with samples or
// InputErrors that name the shard: no other exception, no hang, bounded memory.
//
//   npm run fuzz -- --cases 100000 [--seed 1]     (the test suite runs a few thousand)
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { InputError, UsageError } from '../../src/errors.js';
import { decodeImageAs, encodePng } from '../../src/images/codec.js';
import { encodeSample, imageField, readTar, sampleMeta } from '../../src/shards/index.js';
import { LabelSet } from '../../src/training/labels.js';
import { BLOCK, END_OF_ARCHIVE, encodeMemberHeader, headerSum, padding } from '../../src/shards/tar-format.js';
import { Rng } from '../../src/util/rng.js';
import { rawMember } from './tar.js';

export const FUZZ_SHARD = 'fuzz.tar';
/** Limits the fuzzed paths run under: small, so that memory stays bounded however the input lies. */
const MAX_PIXELS = 1 << 20;
const MAX_MEMBER_SIZE = 1 << 20;
/** A case that takes longer than this has hung. */
const CASE_TIMEOUT_MS = 20_000;

/** A member as the mutators see it: name, data and typeflag (and link target), assembled into tar units. */
interface Member {
  name: string;
  data: Buffer;
  type?: string;
  link?: string;
  /** GNU long-name ('L') member before it instead of a PAX header. */
  gnuLong?: boolean;
}

/** The seed archives: labelled samples of png, jpeg and webp images, long names, links, directories. */
export async function seedCorpus(): Promise<Member[][]> {
  const pixels = Uint8Array.from({ length: 6 * 5 * 3 }, (_, i) => (i * 37) % 256);
  const raw = { raw: { width: 6, height: 5, channels: 3 as const } };
  const png = encodePng(pixels, { width: 6, height: 5, channels: 3 });
  const gray = encodePng(pixels.subarray(0, 30), { width: 6, height: 5, channels: 1 });
  const jpeg = await sharp(pixels, raw).jpeg().toBuffer();
  const webp = await sharp(pixels, raw).webp({ lossless: true }).toBuffer();
  const lossy = await sharp(pixels, raw).webp().toBuffer();
  const sample = (key: string, cls: string, field: string, image: Buffer): Member[] => [
    { name: `${key}.cls`, data: Buffer.from(cls) },
    { name: `${key}.${field}`, data: image },
    { name: `${key}.json`, data: Buffer.from(JSON.stringify({ class: `c${cls}`, source: 'real' })) },
  ];
  const long = `${'d'.repeat(60)}/${'n'.repeat(70)}`;
  return [
    [...sample('a/0', '0', 'png', png), ...sample('a/1', '1', 'jpg', jpeg), ...sample('a/2', '2', 'webp', webp)],
    [...sample(long, '3', 'png', gray), ...sample('é/ü', '4', 'jpeg', jpeg), ...sample('b', '5', 'webp', lossy)].map((m, i) =>
      i < 3 && m.name.startsWith(long) ? { ...m, gnuLong: i === 1 } : m,
    ),
    [
      { name: 'dir/', data: Buffer.alloc(0), type: '5' },
      ...sample('dir/x', '6', 'png', png),
      { name: 'dir/y.png', data: Buffer.alloc(0), type: '1', link: 'dir/x.png' },
      { name: 'dir/y.cls', data: Buffer.from('6') },
      { name: 'dir/z.png', data: Buffer.alloc(0), type: '2', link: 'dir/x.png' },
      { name: 'README', data: Buffer.from('not a sample') },
    ],
  ];
}

/** One member as tar bytes: [GNU long name or PAX header], header, data, padding. */
function unit(m: Member): Buffer {
  if (m.type === undefined && !m.gnuLong) return Buffer.concat([encodeMemberHeader(m.name, m.data.length), m.data, Buffer.alloc(padding(m.data.length))]);
  const name = Buffer.from(m.name);
  const long = name.length > 100 ? rawMember('././@LongLink', Buffer.concat([name, Buffer.alloc(1)]), 'L') : Buffer.alloc(0);
  return Buffer.concat([long, rawMember(name.subarray(0, 100), m.data, m.type ?? '0', m.link ?? '')]);
}

/** Offsets of the header blocks of an archive (the last block of each unit's header part). */
function headerOffsets(units: Buffer[]): number[] {
  const out: number[] = [];
  let at = 0;
  for (const u of units) {
    for (let b = 0; b + BLOCK <= u.length; b += BLOCK) {
      if (u.toString('latin1', b + 257, b + 262) === 'ustar') out.push(at + b);
    }
    at += u.length;
  }
  return out;
}

/** Header fields (offset, width) that the extreme-value mutation rewrites. */
const FIELDS: [number, number][] = [[0, 100], [100, 8], [124, 12], [136, 12], [148, 8], [156, 1], [157, 100], [257, 6], [345, 155]];

function extreme(rng: Rng, width: number): Buffer {
  const b = Buffer.alloc(width);
  switch (rng.int(7)) {
    case 0: return b.fill(0x37); // all octal sevens: the largest value
    case 1: return b.fill(0xff);
    case 2: return b; // all zeros
    case 3: b.fill(0xff); b[0] = 0x80; return b; // GNU base-256, huge
    case 4: b[0] = 0xff; return b; // base-256 negative
    case 5: return b.fill(0x20);
    default: b.write('-1', 'latin1'); return b;
  }
}

function fixChecksum(buf: Buffer, at: number): void {
  if (at + BLOCK > buf.length) return;
  buf.write(`${headerSum(buf, at).toString(8).padStart(6, '0')}\0 `, at + 148, 'latin1');
}

/** Mutate the members (image headers, labels, order) before they are assembled. */
function mutateMembers(rng: Rng, members: Member[]): Member[] {
  const out = members.map((m) => ({ ...m, data: Buffer.from(m.data) }));
  const pick = () => out[rng.int(out.length)];
  switch (rng.int(6)) {
    case 0: {
      // Image header sizes set to extremes (PNG IHDR, JPEG SOF, WebP VP8X canvas).
      const m = out.find((x) => /\.(png|jpe?g|webp)$/.test(x.name) && x.data.length > 30 && rng.int(2) === 0) ?? pick();
      const values = [0, 1, 0xffff, 0x7fffffff, 0xffffffff, 16000];
      const v = values[rng.int(values.length)];
      if (m.data[0] === 0x89 && m.data.length >= 24) m.data.writeUInt32BE(v >>> 0, 16 + 4 * rng.int(2));
      else if (m.data[0] === 0xff) {
        for (let at = 2; at + 9 < m.data.length; at += 2 + m.data.readUInt16BE(at + 2)) {
          if (m.data[at + 1] >= 0xc0 && m.data[at + 1] <= 0xc2) {
            m.data.writeUInt16BE(v & 0xffff, at + 5 + 2 * rng.int(2));
            break;
          }
        }
      } else if (m.data.length > 30) m.data.writeUIntLE(v & 0xffffff, 24 + 3 * rng.int(2), 3);
      return out;
    }
    case 1: {
      // Flip bits inside one member's data.
      const m = pick();
      for (let k = 0; k < 1 + rng.int(4) && m.data.length > 0; k++) m.data[rng.int(m.data.length)] ^= 1 << rng.int(8);
      return out;
    }
    case 2: {
      const m = pick();
      m.data = m.data.subarray(0, rng.int(m.data.length + 1));
      return out;
    }
    case 3: {
      const labels = ['-1', '', '1e9', '9'.repeat(1 + rng.int(400)), '100000', '0x1', ' 7 ', '\u0000'];
      const m = out.find((x) => x.name.endsWith('.cls')) ?? pick();
      m.data = Buffer.from(labels[rng.int(labels.length)]);
      return out;
    }
    case 4: {
      // Names: control characters, "..", absolute, non-UTF-8 bytes.
      const m = pick();
      const names = [`../${m.name}`, `/${m.name}`, `x\n${m.name}`, `${m.name.slice(0, 1)}\u001b${m.name.slice(1)}`, `\udcff${m.name}`];
      m.name = names[rng.int(names.length)];
      return out;
    }
    default: {
      // Reorder: swap, duplicate or drop members.
      const i = rng.int(out.length);
      const j = rng.int(out.length);
      const op = rng.int(3);
      if (op === 0) [out[i], out[j]] = [out[j], out[i]];
      else if (op === 1) out.splice(j, 0, { ...out[i] });
      else out.splice(i, 1);
      return out;
    }
  }
}

/** Mutate the assembled archive bytes. `index` walks every truncation point before random ones. */
function mutateBytes(rng: Rng, units: Buffer[], index: number): Buffer {
  const bytes = Buffer.concat([...units, END_OF_ARCHIVE]);
  switch (rng.int(3)) {
    case 0: {
      for (let k = 0; k < 1 + rng.int(8); k++) bytes[rng.int(bytes.length)] ^= 1 << rng.int(8);
      return bytes;
    }
    case 1: {
      // Truncation at every block boundary (and one byte either side), in turn; then anywhere.
      const points = Math.ceil(bytes.length / BLOCK) * 3;
      const n = index % (2 * points);
      const at = n < points ? Math.floor(n / 3) * BLOCK + (n % 3) - 1 : rng.int(bytes.length);
      return bytes.subarray(0, Math.max(0, at));
    }
    default: {
      const headers = headerOffsets(units);
      const at = headers[rng.int(headers.length)];
      const [offset, width] = FIELDS[rng.int(FIELDS.length)];
      extreme(rng, width).copy(bytes, at + offset);
      if (rng.int(5) > 0) fixChecksum(bytes, at);
      return bytes;
    }
  }
}

/** One fuzz case: the archive bytes, from the corpus, the seed and the case number. */
export function fuzzCase(corpus: Member[][], seed: number, index: number): Buffer {
  const rng = new Rng(seed * 1_000_003 + index);
  let members = corpus[index % corpus.length];
  const memberMutations = rng.int(3);
  for (let k = 0; k < memberMutations; k++) members = mutateMembers(rng, members);
  let units: Buffer[];
  try {
    units = members.map(unit);
  } catch {
    units = corpus[index % corpus.length].map(unit); // a mutated name the writer refuses: mutate bytes only
  }
  return memberMutations > 0 && rng.int(2) === 0 ? Buffer.concat([...units, END_OF_ARCHIVE]) : mutateBytes(rng, units, index);
}

/** An error that is not an InputError naming the shard: what the fuzzer looks for. */
function problemWith(err: unknown): string | null {
  if (err instanceof InputError) return err.message.startsWith(`shard ${FUZZ_SHARD}`) ? null : `InputError without the shard: ${err.message}`;
  if (err instanceof UsageError) return null;
  return `uncaught ${(err as Error)?.name ?? typeof err}: ${(err as Error)?.stack ?? String(err)}`;
}

/**
 * Images already decoded (or refused), by digest: most cases mutate the archive around unchanged images,
 * and the same bytes decode the same way (the decoder runs on libuv's threads, slow on a busy machine).
 */
const decoded = new Map<string, unknown>();

/** Read and decode one archive as the commands do; returns how it ended, or throws what is not allowed. */
export async function consume(bytes: Buffer, skipBad: boolean, chunk: number): Promise<'ok' | 'bad'> {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunk) chunks.push(bytes.subarray(i, i + chunk));
  let bad = false;
  const check = (err: unknown) => {
    const problem = problemWith(err);
    if (problem !== null) throw new Error(problem);
    bad = true;
  };
  // The label set as training keeps it: it grows to the largest label (bounded by the label check).
  const labels = new LabelSet();
  try {
    const samples = readTar(Readable.from(chunks), FUZZ_SHARD, { skipBad, onBad: check, maxMemberSize: MAX_MEMBER_SIZE });
    for await (const s of samples) {
      try {
        if ('cls' in s.fields) labels.observe(s);
        sampleMeta(s);
        encodeSample(s);
        const field = imageField(s);
        const digest = createHash('sha1').update(s.fields[field]).digest('hex');
        if (decoded.has(digest)) {
          const earlier = decoded.get(digest);
          if (earlier !== undefined) throw earlier;
        } else {
          decoded.set(digest, undefined);
          await decodeImageAs(s.fields[field], { width: 8, height: 8, resize: 'stretch', maxPixels: MAX_PIXELS }, s).catch((err) => {
            decoded.set(digest, err);
            throw err;
          });
        }
      } catch (err) {
        check(err);
      }
    }
  } catch (err) {
    check(err);
  }
  return bad ? 'bad' : 'ok';
}

export interface FuzzReport {
  cases: number;
  ok: number;
  bad: number;
  /** Cases that broke a rule: case number and what happened. */
  failures: string[];
  peakRssMB: number;
  seconds: number;
}

/** Run `cases` cases from `seed`; failures are collected, not thrown. */
export async function fuzz(cases: number, seed = 1, progress?: (done: number) => void): Promise<FuzzReport> {
  const corpus = await seedCorpus();
  const t0 = performance.now();
  const report: FuzzReport = { cases, ok: 0, bad: 0, failures: [], peakRssMB: 0, seconds: 0 };
  for (let i = 0; i < cases; i++) {
    const bytes = fuzzCase(corpus, seed, i);
    let timer: NodeJS.Timeout | undefined;
    try {
      const hang = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`hang: no result after ${CASE_TIMEOUT_MS} ms`)), CASE_TIMEOUT_MS);
      });
      const outcome = await Promise.race([consume(bytes, i % 2 === 1, 1 + ((i * 7919) % 4096)), hang]);
      report[outcome]++;
    } catch (err) {
      report.failures.push(`case ${i} (seed ${seed}): ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
    if (i % 100 === 0) {
      report.peakRssMB = Math.max(report.peakRssMB, process.memoryUsage().rss / 2 ** 20);
      progress?.(i);
    }
  }
  report.peakRssMB = Math.max(report.peakRssMB, process.memoryUsage().rss / 2 ** 20);
  report.seconds = (performance.now() - t0) / 1000;
  return report;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name: string, fallback: number) => {
    const at = process.argv.indexOf(name);
    return at >= 0 ? Number(process.argv[at + 1]) : fallback;
  };
  const cases = arg('--cases', 10_000);
  const seed = arg('--seed', 1);
  fuzz(cases, seed, (done) => done % 1000 === 0 && process.stderr.write(`fuzz: ${done}/${cases}\r`)).then((r) => {
    process.stdout.write(
      `fuzz: ${r.cases} cases (seed ${seed}) in ${r.seconds.toFixed(1)} s: ${r.ok} read whole, ${r.bad} with bad input named, ` +
        `${r.failures.length} failures; peak RSS ${r.peakRssMB.toFixed(0)} MB\n`,
    );
    for (const f of r.failures.slice(0, 20)) process.stdout.write(`  ${f}\n`);
    process.exitCode = r.failures.length > 0 ? 1 : 0;
  });
}

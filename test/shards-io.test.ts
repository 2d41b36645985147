// Sources and sinks against real files, pipes and directories: concatenation, missing files, pipe:
// commands, ImageFolder, partitioning, shard splitting, temporary names, backpressure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { InputError, UsageError } from '../src/errors.js';
import { openSource, readTar, shardNamer, tarBytes, writeSink, type Sample } from '../src/shards/index.js';
import { tempDir } from './helpers/cli.js';
import { collect, fromArray, rawTar, sample } from './helpers/tar.js';

const keys = (samples: Sample[]) => samples.map((s) => s.key);

/** A Writable that keeps everything written, optionally slowly and with a small buffer. */
class Collector extends Writable {
  chunks: Buffer[] = [];
  isTTY?: boolean;
  constructor(private readonly delayMs = 0, highWaterMark = 16 * 1024) {
    super({ highWaterMark });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error) => void): void {
    this.chunks.push(chunk);
    if (this.delayMs) setTimeout(done, this.delayMs);
    else done();
  }
  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

test('sources: files, brace patterns and :: lists read as one stream, in order', async (t) => {
  const dir = tempDir(t);
  for (let i = 0; i < 3; i++) writeFileSync(join(dir, `s-${String(i).padStart(3, '0')}.tar`), await tarBytes([sample(`k${i}a`, i), sample(`k${i}b`, i)]));
  const all = await collect(openSource([join(dir, 's-{000..001}.tar'), `${join(dir, 's-002.tar')}::${join(dir, 's-000.tar')}`]));
  assert.deepEqual(keys(all), ['k0a', 'k0b', 'k1a', 'k1b', 'k2a', 'k2b', 'k0a', 'k0b']);
  assert.equal(all[2].shard, join(dir, 's-001.tar'));
});

test('a missing file is an InputError naming it, raised before any sample is read', async (t) => {
  const dir = tempDir(t);
  const good = join(dir, 'good.tar');
  writeFileSync(good, await tarBytes([sample('a', 0)]));
  const missing = join(dir, 'missing.tar');
  const it = openSource([good, missing])[Symbol.asyncIterator]();
  await assert.rejects(it.next(), (e: unknown) => e instanceof InputError && e.shard === missing && /no such file/.test(e.message));
  const skipped: InputError[] = [];
  const kept = await collect(openSource([missing, good], { skipBad: true, onBad: (e) => skipped.push(e) }));
  assert.deepEqual(keys(kept), ['a']);
  assert.equal(skipped.length, 1);
});

test('usage errors: no sources, stdin twice, a bad partition', () => {
  assert.throws(() => openSource([]), UsageError);
  assert.throws(() => openSource(['-', '-']), UsageError);
  assert.throws(() => openSource(['x'], { shardIndex: 2, numShards: 2 }), /Expected an integer from 0 to 1 .*--shard-index/);
  assert.throws(() => openSource(['x'], { numShards: 0 }), UsageError);
});

test('stdin (-) is read from the given stream, between other sources', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'a.tar'), await tarBytes([sample('file', 0)]));
  const stdin = Readable.from([await tarBytes([sample('in1', 1), sample('in2', 2)])]);
  const all = await collect(openSource([join(dir, 'a.tar'), '-'], { stdin }));
  assert.deepEqual(keys(all), ['file', 'in1', 'in2']);
  assert.equal(all[1].shard, '-');
});

test('pipe:COMMAND reads the command\'s stdout; a non-zero exit is an InputError naming the command', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'a.tar');
  writeFileSync(file, await tarBytes([sample('p1', 0), sample('p2', 1)]));
  assert.deepEqual(keys(await collect(openSource([`pipe:cat '${file}'`]))), ['p1', 'p2']);
  const failing = `pipe:cat '${file}'; exit 3`;
  await assert.rejects(collect(openSource([failing])), (e: unknown) => e instanceof InputError && e.shard === failing && /status 3/.test(e.message));
  const skipped: string[] = [];
  const kept = await collect(openSource([failing, file], { skipBad: true, onBad: (e) => skipped.push(e.message) }));
  assert.deepEqual(keys(kept), ['p1', 'p2', 'p1', 'p2']);
  assert.equal(skipped.length, 1);
  // Stopping early ends the command instead of waiting for it.
  const started = Date.now();
  for await (const s of openSource([`pipe:cat '${file}'; sleep 30`])) {
    assert.equal(s.key, 'p1');
    break;
  }
  assert.ok(Date.now() - started < 10_000);
});

test('--shard-index/--num-shards partition the global sample index across sources', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'a.tar'), await tarBytes([0, 1, 2, 3, 4].map((i) => sample(`a${i}`, i))));
  writeFileSync(join(dir, 'b.tar'), await tarBytes([0, 1, 2].map((i) => sample(`b${i}`, i))));
  const specs = [join(dir, '{a,b}.tar')];
  const parts = await Promise.all([0, 1, 2].map((shardIndex) => collect(openSource(specs, { shardIndex, numShards: 3 }))));
  assert.deepEqual(parts.map(keys), [
    ['a0', 'a3', 'b1'],
    ['a1', 'a4', 'b2'],
    ['a2', 'b0'],
  ]);
});

test('ImageFolder directories: classes sorted, cls index, json class and source, keys without extension', async (t) => {
  const dir = tempDir(t);
  const files: Record<string, string> = {
    'zebra/01.png': 'z1',
    'ant/b.JPEG': 'a-b',
    'ant/a.v2.webp': 'a-a',
    'ant/notes.txt': 'not an image',
    'ant/.hidden.png': 'hidden',
    'ant/sub/c.jpg': 'a-sub-c',
    'Bee/x.png': 'bee',
    'empty/readme.md': 'nothing',
    'loose.png': 'outside any class',
  };
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), content);
  }
  const samples = await collect(openSource([dir]));
  // Byte order: 'Bee' < 'ant' < 'empty' < 'zebra'.
  assert.deepEqual(
    samples.map((s) => [s.key, Object.keys(s.fields).sort(), s.fields.cls.toString(), JSON.parse(s.fields.json.toString())]),
    [
      ['Bee/x', ['cls', 'json', 'png'], '0', { class: 'Bee', source: 'real' }],
      ['ant/a_v2', ['cls', 'json', 'webp'], '1', { class: 'ant', source: 'real' }],
      ['ant/b', ['cls', 'jpeg', 'json'], '1', { class: 'ant', source: 'real' }],
      ['ant/sub/c', ['cls', 'jpg', 'json'], '1', { class: 'ant', source: 'real' }],
      ['zebra/01', ['cls', 'json', 'png'], '3', { class: 'zebra', source: 'real' }],
    ],
  );
  assert.equal(samples[2].fields.jpeg.toString(), 'a-b');
  assert.equal(samples[0].fields.json.toString(), '{"class":"Bee","source":"real"}');
  // Written and read back, the keys survive the tar key rule.
  const back = await collect(readTar(Readable.from([await tarBytes(samples)]), 'x'));
  assert.deepEqual(keys(back), keys(samples));
  // Partitioned like any other source.
  const odd = await collect(openSource([dir], { shardIndex: 1, numShards: 2 }));
  assert.deepEqual(keys(odd), ['ant/a_v2', 'ant/sub/c']);
});

test('ImageFolder: two files with one key are an InputError naming directory and key', async (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, 'cat'));
  writeFileSync(join(dir, 'cat', 'a.png'), 'png');
  writeFileSync(join(dir, 'cat', 'a.jpg'), 'jpg');
  writeFileSync(join(dir, 'cat', 'b.png'), 'png');
  await assert.rejects(collect(openSource([dir])), (e: unknown) => e instanceof InputError && e.shard === dir && e.key === 'cat/a');
  const kept = await collect(openSource([dir], { skipBad: true, onBad: () => undefined }));
  assert.deepEqual(kept.map((s) => [s.key, Object.keys(s.fields).sort().join()]), [
    ['cat/a', 'cls,jpg,json'],
    ['cat/b', 'cls,json,png'],
  ]);
});

test('shardNamer: %d, %06d, %% and bad patterns', () => {
  assert.equal(shardNamer('out-%06d.tar')!(12), 'out-000012.tar');
  assert.equal(shardNamer('out-%d.tar')!(12), 'out-12.tar');
  assert.equal(shardNamer('100%%-%03d.tar')!(1), '100%-001.tar');
  assert.equal(shardNamer('plain.tar'), null);
  assert.throws(() => shardNamer('a-%d-%d.tar'), UsageError);
  assert.throws(() => shardNamer('a-%s.tar'), UsageError);
});

test('pattern sink: --max-count splits into numbered shards; each is a complete archive', async (t) => {
  const dir = tempDir(t);
  const samples = [0, 1, 2, 3, 4, 5, 6].map((i) => sample(`s${i}`, i % 3));
  const result = await writeSink(fromArray(samples), { output: join(dir, 'out-%04d.tar'), maxCount: 3 });
  assert.equal(result.samples, 7);
  assert.deepEqual(result.shards, [0, 1, 2].map((i) => join(dir, `out-000${i}.tar`)));
  assert.deepEqual(readdirSync(dir).sort(), ['out-0000.tar', 'out-0001.tar', 'out-0002.tar']);
  const back = await collect(openSource([join(dir, 'out-{0000..0002}.tar')]));
  assert.deepEqual(back.map((s) => [s.key, s.fields]), samples.map((s) => [s.key, s.fields]));
  // Byte-identical to the same samples written in memory.
  assert.ok(readFileSync(join(dir, 'out-0002.tar')).equals(await tarBytes([samples[6]])));
});

test('pattern sink: --max-size bounds each file (a larger single sample gets its own shard)', async (t) => {
  const dir = tempDir(t);
  const sizes = [3000, 3000, 3000, 20000, 100, 100];
  const samples = sizes.map((n, i) => ({ key: `s${i}`, fields: { bin: Buffer.alloc(n, i) } }));
  const maxSize = 8 * 1024;
  const result = await writeSink(fromArray(samples), { output: join(dir, 'o-%d.tar'), maxSize });
  const counts: number[] = [];
  for (const shard of result.shards) {
    const n = (await collect(openSource([shard]))).length;
    counts.push(n);
    const size = statSync(shard).size;
    assert.ok(size <= maxSize || n === 1, `${shard}: ${size} bytes`);
  }
  // 3000 B → 512 + 3072 per sample; two fit with the 1024-byte end marker in 8192, a third does not.
  assert.deepEqual(counts, [2, 1, 1, 2]);
});

test('pattern sink: a failing source leaves finished shards and no temporary file', async (t) => {
  const dir = tempDir(t);
  async function* failing() {
    for (let i = 0; i < 5; i++) yield sample(`s${i}`, 0);
    throw new InputError('cut here', { shard: 'in.tar', key: 's5' });
  }
  await assert.rejects(writeSink(failing(), { output: join(dir, 'o-%02d.tar'), maxCount: 2 }), /cut here/);
  assert.deepEqual(readdirSync(dir).sort(), ['o-00.tar', 'o-01.tar']);
  // A sample whose key cannot be written fails the same way, before any byte of it is written.
  await assert.rejects(writeSink(fromArray([sample('ok', 0), sample('bad.key', 0)]), { output: join(dir, 'p.tar') }), /dot/);
  assert.equal(existsSync(join(dir, 'p.tar')), false);
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.tmp-')), []);
});

test('a single output file, and an empty stream still gives one valid archive', async (t) => {
  const dir = tempDir(t);
  const r = await writeSink(fromArray([]), { output: join(dir, 'empty.tar') });
  assert.deepEqual(r, { samples: 0, shards: [join(dir, 'empty.tar')] });
  assert.ok(readFileSync(join(dir, 'empty.tar')).equals(Buffer.alloc(1024)));
  await assert.rejects(writeSink(fromArray([]), { output: join(dir, 'x.tar'), maxCount: 2 }), UsageError);
});

test('stdout sink: one archive for many inputs; a terminal is refused; limits need a pattern', async () => {
  const out = new Collector();
  const r = await writeSink(openSource(['-'], { stdin: Readable.from([Buffer.concat([await tarBytes([sample('a', 0)]), await tarBytes([sample('b', 1)])])]) }), { stdout: out });
  assert.deepEqual(r, { samples: 2, shards: ['-'] });
  assert.ok(out.bytes.equals(await tarBytes([sample('a', 0), sample('b', 1)])));
  const tty = new Collector();
  tty.isTTY = true;
  await assert.rejects(writeSink(fromArray([sample('a', 0)]), { stdout: tty }), (e: unknown) => e instanceof UsageError && /terminal/.test(e.message));
  assert.equal(tty.chunks.length, 0);
  await assert.rejects(writeSink(fromArray([]), { stdout: new Collector(), maxCount: 5 }), UsageError);
});

test('backpressure: a slow reader holds the source back (memory does not grow with the stream)', async () => {
  const size = 256 * 1024;
  let produced = 0;
  async function* source() {
    for (let i = 0; i < 40; i++) {
      produced++;
      yield { key: `s${i}`, fields: { bin: Buffer.alloc(size, i) } };
    }
  }
  const out = new Collector(2, 64 * 1024);
  let maxAhead = 0;
  const origWrite = out._write.bind(out);
  out._write = (chunk, enc, done) => {
    const written = out.chunks.reduce((n, c) => n + c.length, 0) + chunk.length;
    maxAhead = Math.max(maxAhead, produced * size - written);
    origWrite(chunk, enc, done);
  };
  await writeSink(source(), { stdout: out });
  assert.equal(out.bytes.length, 40 * (512 + size) + 1024);
  // Without backpressure all 40 samples (10 MB) would be produced at once; with it only a few are ahead.
  assert.ok(maxAhead <= 4 * size, `${maxAhead} bytes ahead of the reader`);
});

test('a stream error (EPIPE) on the output rejects the write instead of being lost', async () => {
  const out = new Writable({
    highWaterMark: 1024,
    write(_c, _e, done) {
      done(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    },
  });
  const many = Array.from({ length: 20 }, (_, i) => sample(`s${i}`, 0, 10_000));
  await assert.rejects(writeSink(fromArray(many), { stdout: out }), (e: unknown) => (e as NodeJS.ErrnoException).code === 'EPIPE');
});

test('bad input through a sink: a truncated shard fails the command and its output shard is removed', async (t) => {
  const dir = tempDir(t);
  const whole = rawTar([
    ['a.cls', '1'],
    ['b.cls', '2'],
    ['b.png', Buffer.alloc(3000, 1)],
  ]);
  writeFileSync(join(dir, 'cut.tar'), whole.subarray(0, whole.length - 1024 - 1000));
  await assert.rejects(writeSink(openSource([join(dir, 'cut.tar')]), { output: join(dir, 'out.tar') }), (e: unknown) => e instanceof InputError && e.key === 'b');
  assert.deepEqual(readdirSync(dir), ['cut.tar']);
  const r = await writeSink(openSource([join(dir, 'cut.tar')], { skipBad: true, onBad: () => undefined }), { output: join(dir, 'out.tar') });
  assert.equal(r.samples, 1);
});

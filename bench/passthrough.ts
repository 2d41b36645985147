// Benchmark: tar pass-through — read, group into samples, write, no decoding — over
// ≥ 1 GB of shards, timing the real binary (`bin/synthaug cat`) against `cat` in the same run, in
// shell pipelines. Reports MB/s of each, the ratio, and synthaug's peak RSS (from /usr/bin/time).
// Target: ≥ 1/3 of cat's speed, peak RSS < 200 MB whatever the stream's size.
//
//   node dist/bench/passthrough.js [--gb 1] [--runs 3] [--dir DIR] [--stream-gb 4]
//
// Three set-ups, the same files for both programs, each run once untimed first (page cache warm, code
// loaded), then best of --runs, cat and synthaug taking turns:
//   files → /dev/null        cat FILES > /dev/null            vs  synthaug cat FILES > /dev/null
//   stdin pipe → /dev/null   cat FILES | cat > /dev/null       vs  cat FILES | synthaug cat - > /dev/null
//   stdin pipe → stdout pipe cat FILES | cat | cat > /dev/null vs  cat FILES | synthaug cat - | cat > /dev/null
// The output of synthaug is checked once (untimed) against the expected bytes by SHA-256.
// --stream-gb N also pipes an N GB stream, generated on the fly, through `synthaug cat -`, to show
// that peak RSS does not grow with the length of the stream.
import { spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSink, type Sample } from '../src/shards/index.js';
import { END_OF_ARCHIVE } from '../src/shards/tar-format.js';
import { Rng } from '../src/util/rng.js';

const SELF = fileURLToPath(import.meta.url);
const BIN = fileURLToPath(new URL('../../bin/synthaug', import.meta.url));
const MB = 1e6;

/** Samples of 1,000-byte to 100 KB random fields (log-uniform), with a cls and a json field. */
async function* syntheticSamples(totalBytes: number, seed: number): AsyncGenerator<Sample> {
  const rng = new Rng(seed);
  const pool = randomFillSync(Buffer.allocUnsafe(16 << 20));
  let bytes = 0;
  for (let i = 0; bytes < totalBytes; i++) {
    const size = Math.round(1000 * Math.pow(100, rng.random())); // 1e3 .. 1e5
    const offset = rng.int(pool.length - size);
    const cls = rng.int(1000);
    yield {
      key: `sample/${String(i).padStart(9, '0')}`,
      fields: {
        bin: pool.subarray(offset, offset + size),
        cls: Buffer.from(String(cls)),
        json: Buffer.from(JSON.stringify({ class: `class${cls}`, source: 'synthetic' })),
      },
    };
    bytes += size;
  }
}

interface Timed {
  seconds: number;
  stdout: string;
  stderr: string;
}

/** Run `sh -c script`, timing it; rejects on a non-zero exit. */
function timed(script: string): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn('sh', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code === 0) resolve({ seconds, stdout, stderr });
      else reject(new Error(`${script} exited with ${code}: ${stderr}`));
    });
  });
}

/** `--generate GB`: write that many GB of synthetic samples as one tar stream on stdout. */
async function generate(gb: number): Promise<void> {
  await writeSink(syntheticSamples(gb * 1e9, 2));
}

function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** SHA-256 of what a pass-through of these canonical shards must print: each shard without its end marker, then one marker. */
async function expectedDigest(files: string[]): Promise<string> {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(4 << 20);
  for (const file of files) {
    const handle = await open(file, 'r');
    const end = statSync(file).size - END_OF_ARCHIVE.length;
    for (let pos = 0; pos < end; ) {
      const { bytesRead } = await handle.read(buf, 0, Math.min(buf.length, end - pos), pos);
      hash.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
    await handle.close();
  }
  return hash.update(END_OF_ARCHIVE).digest('hex');
}

interface Best {
  seconds: number;
  /** Peak RSS of the measured program, KB (/usr/bin/time -f %M), the largest over the runs. */
  rssKB: number;
}

/**
 * Best of `runs` timings of each script, after one untimed warm-up run of each; the scripts take turns
 * run by run, so that both see the same load on a shared machine.
 */
async function bestOf(scripts: ((rssFile: string) => string)[], rssFile: string, runs: number): Promise<Best[]> {
  for (const script of scripts) await timed(script(rssFile));
  const out = scripts.map(() => ({ seconds: Infinity, rssKB: 0 }));
  for (let i = 0; i < runs; i++) {
    for (const [j, script] of scripts.entries()) {
      const t = await timed(script(rssFile));
      out[j].seconds = Math.min(out[j].seconds, t.seconds);
      out[j].rssKB = Math.max(out[j].rssKB, Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop()));
    }
  }
  return out;
}

function option(argv: string[], name: string, fallback: number): number {
  const at = argv.indexOf(name);
  return at >= 0 ? Number(argv[at + 1]) : fallback;
}

export async function run(argv: string[] = process.argv.slice(2)): Promise<void> {
  const gb = option(argv, '--gb', 1);
  const runs = option(argv, '--runs', 3);
  const dirAt = argv.indexOf('--dir');
  const dir = dirAt >= 0 ? argv[dirAt + 1] : mkdtempSync(join(tmpdir(), 'synthaug-bench-'));
  try {
    const gen0 = Date.now();
    const written = await writeSink(syntheticSamples(gb * 1e9, 1), { output: join(dir, 'bench-%06d.tar'), maxSize: 100 * MB });
    const bytes = written.shards.reduce((n, f) => n + statSync(f).size, 0);
    const files = written.shards.map(quote).join(' ');
    const node = quote(process.execPath);
    const synthaug = `${node} ${quote(BIN)}`;
    const rss = join(dir, 'rss.txt');
    const time = (file: string) => `/usr/bin/time -f %M -o ${quote(file)}`;
    process.stdout.write(
      `pass-through benchmark: ${written.samples} samples (3 fields each), ${written.shards.length} shards, ` +
        `${(bytes / MB).toFixed(0)} MB, generated in ${((Date.now() - gen0) / 1000).toFixed(1)} s; best of ${runs} runs after a warm-up\n`,
    );

    // Correctness first (untimed): both set-ups print exactly the expected archive.
    const digest = await expectedDigest(written.shards);
    for (const script of [`${synthaug} cat ${files} | sha256sum`, `cat ${files} | ${synthaug} cat - | sha256sum`]) {
      const got = (await timed(script)).stdout.split(' ')[0];
      if (got !== digest) throw new Error(`pass-through output differs from the input samples: ${script}`);
    }

    const setups: [name: string, cat: (f: string) => string, ours: (f: string) => string][] = [
      ['files → /dev/null', (f) => `${time(f)} cat ${files} > /dev/null`, (f) => `${time(f)} ${synthaug} cat ${files} > /dev/null`],
      ['stdin pipe → /dev/null', (f) => `cat ${files} | ${time(f)} cat > /dev/null`, (f) => `cat ${files} | ${time(f)} ${synthaug} cat - > /dev/null`],
      [
        'stdin pipe → stdout pipe',
        (f) => `cat ${files} | ${time(f)} cat | cat > /dev/null`,
        (f) => `cat ${files} | ${time(f)} ${synthaug} cat - | cat > /dev/null`,
      ],
    ];
    for (const [name, catScript, ourScript] of setups) {
      const [cat, ours] = await bestOf([catScript, ourScript], rss, runs);
      const catRate = bytes / MB / cat.seconds;
      const ourRate = bytes / MB / ours.seconds;
      process.stdout.write(
        `${name}: cat ${catRate.toFixed(0)} MB/s (${cat.seconds.toFixed(2)} s), synthaug ${ourRate.toFixed(0)} MB/s (${ours.seconds.toFixed(2)} s), ` +
          `ratio ${(ourRate / catRate).toFixed(2)} (target ≥ 0.33), synthaug peak RSS ${(ours.rssKB / 1024).toFixed(0)} MB (target < 200)\n`,
      );
    }
    const [startup] = await bestOf([(f) => `${time(f)} ${synthaug} --version > /dev/null`], rss, runs);
    process.stdout.write(
      `synthaug start-up (--version): ${startup.seconds.toFixed(2)} s and ${(startup.rssKB / 1024).toFixed(0)} MB RSS, included in the figures above\n`,
    );

    // Memory must not grow with the stream: a longer stream through stdin, generated on the fly.
    const streamGb = option(argv, '--stream-gb', 0);
    if (streamGb > 0) {
      const t = await timed(`${node} ${quote(SELF)} --generate ${streamGb} | ${time(rss)} ${synthaug} cat - | wc -c`);
      const rssKB = Number(readFileSync(rss, 'utf8').trim().split('\n').pop());
      process.stdout.write(
        `${streamGb} GB stream through stdin: ${(Number(t.stdout.trim()) / MB).toFixed(0)} MB out in ${t.seconds.toFixed(1)} s, ` +
          `synthaug peak RSS ${(rssKB / 1024).toFixed(0)} MB\n`,
      );
    }
  } finally {
    if (dirAt < 0) rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === SELF) {
  const generateAt = process.argv.indexOf('--generate');
  const work = generateAt >= 0 ? generate(Number(process.argv[generateAt + 1])) : run();
  work.catch((err) => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`);
    process.exit(1);
  });
}

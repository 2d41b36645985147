// Benchmark (issue 2 item 10): tar pass-through — read, group into samples, write, no decoding — over
// ≥ 1 GB of shards, against `cat` in the same run. Reports MB/s of each, the ratio, and the peak RSS
// of the synthaug process. Target: ≥ 1/3 of cat's speed, peak RSS < 200 MB.
//
//   node dist/bench/passthrough.js [--gb 1] [--dir DIR] [--stream-gb 4]
//
// --stream-gb N also pipes an N GB stream, generated on the fly, through stdin, to show that peak RSS
// does not grow with the length of the stream.
// The synthaug side is a child process running the shard library exactly as a command does
// (openSource → writeSink), in two set-ups: files → /dev/null, and stdin pipe → stdout pipe.
import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openSource, writeSink, type Sample } from '../src/shards/index.js';
import { Rng } from '../src/util/rng.js';

const SELF = fileURLToPath(import.meta.url);
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
  stderr: string;
}

/** Run `sh -c script`, timing it; rejects on a non-zero exit. */
function timed(script: string): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn('sh', ['-c', script], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code === 0) resolve({ seconds, stderr });
      else reject(new Error(`${script} exited with ${code}: ${stderr}`));
    });
  });
}

/** `--generate GB`: write that many GB of synthetic samples as one tar stream on stdout. */
async function generate(gb: number): Promise<void> {
  await writeSink(syntheticSamples(gb * 1e9, 2));
}

/** The child: pass SOURCES through the library to stdout, then report samples and peak RSS on stderr. */
async function child(specs: string[]): Promise<void> {
  const result = await writeSink(openSource(specs));
  process.stderr.write(`${JSON.stringify({ samples: result.samples, maxRssKB: process.resourceUsage().maxRSS })}\n`);
}

function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Best of `runs` timings (the machine is shared; the best run is the least disturbed). */
async function best(script: string, runs: number): Promise<Timed> {
  let out: Timed | undefined;
  for (let i = 0; i < runs; i++) {
    const t = await timed(script);
    if (out === undefined || t.seconds < out.seconds) out = t;
  }
  return out!;
}

export async function run(argv: string[] = process.argv.slice(2)): Promise<void> {
  const gbAt = argv.indexOf('--gb');
  const gb = gbAt >= 0 ? Number(argv[gbAt + 1]) : 1;
  const dirAt = argv.indexOf('--dir');
  const dir = dirAt >= 0 ? argv[dirAt + 1] : mkdtempSync(join(tmpdir(), 'synthaug-bench-'));
  const runs = 3;
  try {
    const gen0 = Date.now();
    const written = await writeSink(syntheticSamples(gb * 1e9, 1), { output: join(dir, 'bench-%06d.tar'), maxSize: 100 * MB });
    const bytes = written.shards.reduce((n, f) => n + statSync(f).size, 0);
    const files = written.shards.map(quote).join(' ');
    const node = quote(process.execPath);
    const me = `${node} ${quote(SELF)} --child`;
    process.stdout.write(
      `pass-through benchmark: ${written.samples} samples (3 fields each), ${written.shards.length} shards, ` +
        `${(bytes / MB).toFixed(0)} MB, generated in ${((Date.now() - gen0) / 1000).toFixed(1)} s; best of ${runs} runs\n`,
    );
    await timed(`cat ${files} > /dev/null`); // page cache warm for both sides

    const rows: [string, Timed, Timed][] = [];
    rows.push(['files → /dev/null', await best(`cat ${files} > /dev/null`, runs), await best(`${me} ${files} > /dev/null`, runs)]);
    rows.push(['stdin pipe → stdout pipe', await best(`cat ${files} | cat > /dev/null`, runs), await best(`cat ${files} | ${me} - | cat > /dev/null`, runs)]);
    for (const [name, cat, ours] of rows) {
      const report = JSON.parse(ours.stderr.trim().split('\n').pop()!) as { samples: number; maxRssKB: number };
      if (report.samples !== written.samples) throw new Error(`pass-through saw ${report.samples} samples, expected ${written.samples}`);
      const catRate = bytes / MB / cat.seconds;
      const ourRate = bytes / MB / ours.seconds;
      process.stdout.write(
        `${name}: cat ${catRate.toFixed(0)} MB/s (${cat.seconds.toFixed(2)} s), synthaug ${ourRate.toFixed(0)} MB/s (${ours.seconds.toFixed(2)} s), ` +
          `ratio ${(ourRate / catRate).toFixed(2)} (target ≥ 0.33), peak RSS ${(report.maxRssKB / 1024).toFixed(0)} MB (target < 200)\n`,
      );
    }
    // Memory must not grow with the stream: a longer stream through stdin, generated on the fly.
    const streamAt = argv.indexOf('--stream-gb');
    if (streamAt >= 0) {
      const streamGb = Number(argv[streamAt + 1]);
      const t = await timed(`${node} ${quote(SELF)} --generate ${streamGb} | ${me} - > /dev/null`);
      const report = JSON.parse(t.stderr.trim().split('\n').pop()!) as { samples: number; maxRssKB: number };
      process.stdout.write(
        `${streamGb} GB stream through stdin: ${report.samples} samples in ${t.seconds.toFixed(1)} s, peak RSS ${(report.maxRssKB / 1024).toFixed(0)} MB\n`,
      );
    }
  } finally {
    if (dirAt < 0) rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === SELF) {
  const childAt = process.argv.indexOf('--child');
  const generateAt = process.argv.indexOf('--generate');
  const work =
    childAt >= 0 ? child(process.argv.slice(childAt + 1)) : generateAt >= 0 ? generate(Number(process.argv[generateAt + 1])) : run();
  work.catch((err) => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`);
    process.exit(1);
  });
}

// Start-up benchmark: the wall time of commands that have almost nothing to do, side by side in one run
// with `node -e 0` (node's own start-up) and with importing yargs alone (the command-line parser every
// command loads). The programs take turns, run by run, so that all see the same load on a shared machine;
// each gets warm-up runs first (page cache and code cache warm). Target: `synthaug --version`, `--help`,
// and `ls` / `cat` on a 20-sample shard within 3× of `node -e 0`.
//
//   node dist/bench/startup.js [--runs 15]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodePng } from '../src/images/codec.js';
import { writeSink, type Sample } from '../src/shards/index.js';

const SELF = fileURLToPath(import.meta.url);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'synthaug');
const TARGET = 3;
const WARMUP = 2;

/** The vector extensions that decide compute speed on x86 (AVX-512 > AVX2 > SSE), from /proc/cpuinfo. */
export function machine(): string {
  let isa = 'unknown ISA';
  try {
    const flags = new Set(/^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1].trim().split(/\s+/) ?? []);
    isa = flags.has('avx512f') ? 'AVX-512' : flags.has('avx2') ? 'AVX2 (no AVX-512)' : flags.has('sse4_2') ? 'SSE4.2 (no AVX2)' : isa;
  } catch {
    // not Linux: leave the ISA unknown
  }
  return `${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${isa}, ${cpus().length} cores, Node ${process.versions.node}`;
}

/** Seconds from spawn to exit of one run; rejects on a non-zero exit. */
function once(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(Number(process.hrtime.bigint() - started) / 1e9);
      else reject(new Error(`node ${args.join(' ')} exited with ${code}: ${stderr}`));
    });
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** A shard of `n` labelled 28×28 gray PNG samples. */
async function smallShard(file: string, n: number): Promise<void> {
  async function* samples(): AsyncGenerator<Sample> {
    for (let i = 0; i < n; i++) {
      const pixels = Uint8Array.from({ length: 28 * 28 }, (_, j) => (i * 7 + j * 3) & 0xff);
      yield {
        key: `small/${String(i).padStart(4, '0')}`,
        fields: {
          png: encodePng(pixels, { width: 28, height: 28, channels: 1 }),
          cls: Buffer.from(String(i % 10)),
          json: Buffer.from(JSON.stringify({ class: `class${i % 10}`, source: 'real' })),
        },
      };
    }
  }
  await writeSink(samples(), { output: file });
}

function option(argv: string[], name: string, fallback: number): number {
  const at = argv.indexOf(name);
  return at >= 0 ? Number(argv[at + 1]) : fallback;
}

export async function run(argv: string[] = process.argv.slice(2)): Promise<void> {
  const runs = option(argv, '--runs', 15);
  const dir = mkdtempSync(join(tmpdir(), 'synthaug-startup-'));
  try {
    const shard = join(dir, 'small.tar');
    await smallShard(shard, 20);
    const programs: { name: string; args: string[]; reference?: true }[] = [
      { name: 'node -e 0', args: ['-e', '0'], reference: true },
      { name: 'node: import yargs', args: ['--input-type=module', '-e', "import 'yargs'"] },
      { name: 'synthaug --version', args: [BIN, '--version'] },
      { name: 'synthaug --help', args: [BIN, '--help'] },
      { name: 'synthaug ls (20 samples)', args: [BIN, 'ls', shard] },
      { name: 'synthaug cat (20 samples)', args: [BIN, 'cat', shard, '-o', join(dir, 'out.tar')] },
    ];
    process.stdout.write(`start-up benchmark on ${machine()}: median (min) of ${runs} runs each after ${WARMUP} warm-up runs, programs taking turns\n`);
    const times = programs.map(() => [] as number[]);
    for (let i = 0; i < WARMUP + runs; i++) {
      for (const [j, p] of programs.entries()) {
        const t = await once(p.args);
        if (i >= WARMUP) times[j].push(t);
      }
    }
    const base = median(times[0]);
    for (const [j, p] of programs.entries()) {
      const m = median(times[j]);
      const ratio = m / base;
      const verdict = p.reference ? 'reference' : p.name.startsWith('synthaug') ? `${ratio.toFixed(2)}× (target ≤ ${TARGET}× ${ratio <= TARGET ? '✓' : '✗'})` : `${ratio.toFixed(2)}×`;
      process.stdout.write(`${p.name.padEnd(28)} ${(m * 1000).toFixed(0).padStart(5)} ms (${(Math.min(...times[j]) * 1000).toFixed(0)} ms)  ${verdict}\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === SELF) {
  run().catch((err) => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`);
    process.exit(1);
  });
}

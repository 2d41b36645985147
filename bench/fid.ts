// FID benchmark, each comparison in one run on one machine:
//   extract   images/s of Inception feature extraction (pytorch-fid's input path: 64x64 uint8 → bilinear 299 →
//             2x − 1 → pool features and logits) in synthaug (initBackend('auto')) and in PyTorch
//             (bench/reference/fid_bench.py, threads = cores); batch 8, median of the timed steps
//   frechet   the 2048-d Fréchet distance (wall and CPU seconds, as the machine may be shared): synthaug's float64 pivoted-Cholesky + eigenvalue route against scipy's
//             sqrtm route as pytorch-fid runs it, on the same statistics (written to a temporary .npz)
// Prints the ISA: CPU model and vector extensions, the tfjs backend, numpy/scipy's BLAS.
//   node dist/bench/fid.js [--no-torch] [--steps N] [--frechet-only] [--product-threads 1|2]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { FIDInceptionV3 } from '../src/models/inception.js';
import { inceptionExtractor } from '../src/models/inception-extractor.js';
import { frechetDistance } from '../src/metrics/frechet.js';
import { setProductThreads } from '../src/metrics/linalg.js';
import { writeNpz } from '../src/nn/npz.js';
import { Rng } from '../src/util/rng.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('../../bench/reference/fid_bench.py', import.meta.url));
const D = 2048;

function python(args: string[]): Record<string, unknown> {
  const r = spawnSync(PYTHON, [SCRIPT, ...args], { encoding: 'utf8', timeout: 1_800_000 });
  if (r.error || r.status !== 0) return { skipped: `${PYTHON} failed: ${r.error?.message ?? r.stderr.trim().split('\n').pop()}` };
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

function isa(): string {
  let flags = '';
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const f = new Set((/^flags\s*:\s*(.*)$/m.exec(info)?.[1] ?? '').split(' '));
    flags = ['sse4_2', 'avx', 'avx2', 'fma', 'avx512f', 'avx512_vnni', 'amx_tile'].filter((x) => f.has(x)).join(' ');
  } catch {
    flags = 'unknown (no /proc/cpuinfo)';
  }
  return `${process.arch}, ${cpus()[0]?.model ?? 'unknown CPU'} x${cpus().length}, ${flags}`;
}

/** A random covariance of rank `rank` from `rank` Gaussian feature vectors, in float64 (via float32 products). */
function randomStats(rng: Rng, rank: number, shift: number): { mu: Float64Array; sigma: Float64Array } {
  const x = tf.tidy(() => {
    const a = tf.tensor2d(Float32Array.from({ length: rank * D }, () => rng.normal()), [rank, D]);
    const mix = tf.tensor2d(Float32Array.from({ length: D }, (_, i) => 0.5 + (i % 7) / 7), [1, D]);
    const f = tf.relu(tf.add(tf.mul(a, mix), shift));
    const c = tf.sub(f, tf.mean(f, 0, true));
    return { mu: tf.mean(f, 0), sigma: tf.div(tf.matMul(c, c, true, false), rank - 1) };
  });
  const out = { mu: Float64Array.from(x.mu.dataSync()), sigma: Float64Array.from(x.sigma.dataSync()) };
  tf.dispose([x.mu, x.sigma]);
  return out;
}

export async function run(argv: string[] = process.argv.slice(2)): Promise<void> {
  const torch = !argv.includes('--no-torch');
  const si = argv.indexOf('--steps');
  const steps = si >= 0 ? Number(argv[si + 1]) : 3;
  const info = await initBackend('auto');
  console.log(`ISA: ${isa()}; tfjs backend ${info.name}${info.threads ? ` (${info.threads} threads)` : ''}`);
  if (!argv.includes('--frechet-only')) await extractBench(torch, steps);
  const ti = argv.indexOf('--product-threads');
  const threads = ti >= 0 && argv[ti + 1] === '1' ? 1 : Math.min(2, cpus().length);
  setProductThreads(threads === 1 ? 1 : 2);
  await frechetBench(torch, threads);
}

async function extractBench(torch: boolean, steps: number): Promise<void> {
  const batch = 8;
  const net = new FIDInceptionV3(1);
  const ex = inceptionExtractor(net, 'pytorch-fid');
  const rng = new Rng(0);
  const images = Uint8Array.from({ length: batch * 64 * 64 * 3 }, () => rng.int(256));
  const times: number[] = [];
  for (let s = 0; s <= steps; s++) {
    const t0 = performance.now();
    await ex.extract(images, batch, [64, 64]);
    if (s > 0) times.push(performance.now() - t0);
  }
  ex.dispose();
  times.sort((a, b) => a - b);
  const ours = (batch * 1000) / times[Math.floor(times.length / 2)];
  const ref: Record<string, unknown> = torch ? python(['extract', '--batch', String(batch), '--size', '64', '--steps', String(steps)]) : { skipped: 'disabled (--no-torch)' };
  const theirs = 'imagesPerSec' in ref ? (ref.imagesPerSec as number) : undefined;
  console.log(
    `extract  synthaug ${ours.toFixed(2)} images/s | PyTorch ${theirs === undefined ? String(ref.skipped) : `${theirs.toFixed(2)} images/s (${ref.threads} threads, torch ${ref.torch})`}` +
      (theirs ? ` | ratio ${(ours / theirs).toFixed(2)} (target ≥ 0.5 on WASM)` : ''),
  );

}

async function frechetBench(torch: boolean, threads: number): Promise<void> {
  const g1 = randomStats(new Rng(1), 2 * D, 0.2);
  const g2 = randomStats(new Rng(2), 2 * D, 0.3);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const fid = frechetDistance(g1, g2);
  const secs = (performance.now() - t0) / 1000;
  const c1 = process.cpuUsage(c0);
  const cpuSecs = (c1.user + c1.system) / 1e6;
  let refLine = 'scipy skipped (--no-torch)';
  if (torch) {
    const dir = mkdtempSync(join(tmpdir(), 'synthaug-bench-fid-'));
    try {
      const path = join(dir, 'stats.npz');
      await writeNpz(path, new Map([
        ['mu1', { shape: [D], data: g1.mu }],
        ['sigma1', { shape: [D, D], data: g1.sigma }],
        ['mu2', { shape: [D], data: g2.mu }],
        ['sigma2', { shape: [D, D], data: g2.sigma }],
      ]));
      const r = python(['frechet', '--stats', path]);
      refLine =
        'seconds' in r
          ? `scipy sqrtm ${(r.seconds as number).toFixed(2)} s wall, ${(r.cpuSeconds as number).toFixed(2)} s CPU (numpy ${r.numpy}, scipy ${r.scipy}, BLAS ${r.blas}${r.OPENBLAS_CORETYPE ? `, OPENBLAS_CORETYPE=${r.OPENBLAS_CORETYPE}` : ''}) | speed-up ${((r.seconds as number) / secs).toFixed(2)}x | FID ${fid.toFixed(6)} vs ${(r.fid as number).toFixed(6)}, rel. diff ${(Math.abs(fid - (r.fid as number)) / Math.abs(r.fid as number)).toExponential(2)}`
          : String(r.skipped);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log(`frechet  synthaug ${secs.toFixed(2)} s wall, ${cpuSecs.toFixed(2)} s CPU (D = ${D}, float64, products on ${threads} thread${threads > 1 ? 's' : ''}) | ${refLine}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  run().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}

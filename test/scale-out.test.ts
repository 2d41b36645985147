// Scale-out as the recipes in docs/scale-out.md run it: N concurrent `synthaug sample` processes with
// --shard-index/--num-shards write part files, N `synthaug fid --save-stats` processes write partial
// statistics, `fid --merge-stats` adds them up. The parts must hold exactly the single run's samples
// (same keys, same bytes), and the merged statistics must be the single run's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openSource, type Sample } from '../src/shards/index.js';
import { loadStats } from '../src/metrics/stats.js';
import { runCli, tempDir } from './helpers/cli.js';
import { writeTinyDiffusionModel } from './helpers/tiny-diffusion.js';

const N = 3;
const SAMPLE = ['--per-class', '4', '--guidance', '1.5', '--steps', '2', '--sampler', 'heun', '--seed', '7', '--backend', 'cpu'];
async function ok(args: string[]): Promise<void> {
  const r = await runCli(args);
  assert.equal(r.code, 0, `synthaug ${args.join(' ')}\n${r.stderr}`);
}

async function samplesOf(path: string): Promise<Sample[]> {
  const out: Sample[] = [];
  for await (const s of openSource([path])) out.push(s);
  return out;
}

const parts = Array.from({ length: N }, (_, i) => i);

test(`${N} sample workers make exactly the single run's samples, and their merged FID statistics are its statistics`, async (t) => {
  const work = tempDir(t, 'synthaug-scale-out-');
  const model = join(work, 'model');
  await writeTinyDiffusionModel(model, ['a', 'b', 'c']);
  await ok(['sample', '-m', model, ...SAMPLE, '-o', join(work, 'whole.tar')]);
  // The workers run at the same time, as under GNU parallel, a Slurm array or an indexed Job.
  await Promise.all(parts.map((i) => ok(['sample', '-m', model, ...SAMPLE, '--shard-index', String(i), '--num-shards', String(N), '-o', join(work, `part-${i}.tar`)])));

  const whole = await samplesOf(join(work, 'whole.tar'));
  assert.equal(whole.length, 12);
  const pieces = await Promise.all(parts.map((i) => samplesOf(join(work, `part-${i}.tar`))));
  assert.deepEqual(pieces.map((p) => p.length), [4, 4, 4]);
  // Worker i holds the samples at positions i, i + N, ... of the single run, with the same bytes.
  pieces.forEach((piece, i) => {
    const expected = whole.filter((_, g) => g % N === i);
    assert.deepEqual(piece.map((s) => s.key), expected.map((s) => s.key), `part ${i} keys`);
    piece.forEach((s, j) => {
      assert.deepEqual(Object.keys(s.fields).sort(), Object.keys(expected[j].fields).sort());
      for (const [f, bytes] of Object.entries(s.fields)) assert.ok(bytes.equals(expected[j].fields[f]), `${s.key}.${f} differs`);
    });
  });

  // A feature network for the statistics: any classifier directory; a tiny one trained for two steps.
  const clf = join(work, 'clf');
  await ok(['train-classifier', join(work, 'whole.tar'), '-o', clf, '--steps', '2', '--batch-size', '4', '--arch-option', 'width=4', '--backend', 'cpu']);
  const features = ['--features', clf, '--backend', 'cpu'];
  await ok(['fid', join(work, 'whole.tar'), ...features, '--save-stats', join(work, 'whole.npz')]);
  await Promise.all(parts.map((i) => ok(['fid', join(work, `part-${i}.tar`), ...features, '--save-stats', join(work, `stats-${i}.npz`)])));
  await ok(['fid', '--merge-stats', ...parts.map((i) => join(work, `stats-${i}.npz`)), '-o', join(work, 'merged.npz')]);
  const single = await loadStats(join(work, 'whole.npz'));
  assert.equal(single.n, 12);
  const merged = await loadStats(join(work, 'merged.npz'));
  assert.equal(merged.n, 12);
  // Float64 sums added in another order: equal up to rounding.
  for (const key of ['mu', 'sigma'] as const) {
    const a = merged.gaussian[key];
    const b = single.gaussian[key];
    assert.equal(a.length, b.length);
    const scale = Math.max(...Array.from(b, Math.abs));
    for (let k = 0; k < a.length; k++) assert.ok(Math.abs(a[k] - b[k]) <= 1e-12 * scale, `${key}[${k}]: ${a[k]} vs ${b[k]}`);
  }
  const r = await runCli(['fid', join(work, 'merged.npz'), join(work, 'whole.npz'), '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(Math.abs(JSON.parse(r.stdout.toString()).fid) < 1e-9, r.stdout.toString());
});

// The fid and inception-score commands end to end with a classifier directory as the feature extractor:
// partial statistics of --shard-index/--num-shards runs merge (--merge-stats) into the single run's, a saved
// .npz stands in for its images, per-class FID and IS through the command line, usage errors.
import { test, before, after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { initBackend } from '../src/backend/index.js';
import { createClassifier } from '../src/models/registry.js';
import { saveClassifier } from '../src/models/store.js';
import { classifierExtractor } from '../src/models/extractor.js';
import { loadStats } from '../src/metrics/stats.js';
import { featureBatches } from '../src/metrics/inputs.js';
import { inceptionScore } from '../src/metrics/inception-score.js';
import { openSource } from '../src/shards/index.js';
import { runCli } from './helpers/cli.js';

let root: string;
let clf: string;
let a: string;
let b: string;

before(async () => {
  await initBackend('cpu');
});

after(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

/** One classifier directory and two small Fashion-MNIST tars, shared by the tests of this file. */
async function setup(): Promise<void> {
  if (root) return;
  root = mkdtempSync(join(tmpdir(), 'synthaug-fid-'));
  clf = join(root, 'clf');
  const model = createClassifier({ arch: 'resnet20', numClasses: 10, inputShape: [28, 28, 1], options: { width: 4 } }, 5);
  await saveClassifier(clf, model, { classNames: [...'0123456789'], normalization: { mean: [0.3], std: [0.35] } });
  model.dispose();
  a = join(root, 'a.tar');
  b = join(root, 'b.tar');
  for (const [path, seed, classes] of [[a, '1', '0,1,2'], [b, '2', '0,1,3']]) {
    const r = await runCli(['pack', '--dataset', 'fashion-mnist', '--split', 'test', '--per-class', '12', '--classes', classes, '--seed', seed, '-o', path]);
    assert.equal(r.code, 0, r.stderr);
  }
}

function maxRel(x: Float64Array, y: Float64Array): number {
  let e = 0;
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    e = Math.max(e, Math.abs(x[i] - y[i]));
    s = Math.max(s, Math.abs(y[i]));
  }
  return e / s;
}

test('--save-stats per worker, --merge-stats, then fid with the .npz: equal to the single run', async () => {
  await setup();
  const f = ['--features', clf, '--backend', 'cpu'];
  const parts = [0, 1, 2].map((i) => join(root, `part-${i}.npz`));
  for (let i = 0; i < 3; i++) {
    const r = await runCli(['fid', a, ...f, '--save-stats', parts[i], '--shard-index', String(i), '--num-shards', '3']);
    assert.equal(r.code, 0, r.stderr);
  }
  const merged = join(root, 'all.npz');
  const m = await runCli(['fid', '--merge-stats', ...parts, '-o', merged]);
  assert.equal(m.code, 0, m.stderr);
  const full = join(root, 'full.npz');
  assert.equal((await runCli(['fid', a, ...f, '--save-stats', full])).code, 0);
  const [sm, sf] = [await loadStats(merged), await loadStats(full)];
  assert.equal(sm.n, 36);
  assert.equal(sf.n, 36);
  assert.ok(maxRel(sm.gaussian.mu, sf.gaussian.mu) < 1e-12);
  assert.ok(maxRel(sm.gaussian.sigma, sf.gaussian.sigma) < 1e-12);

  const direct = await runCli(['fid', a, b, ...f, '--json', '--per-class']);
  assert.equal(direct.code, 0, direct.stderr);
  const viaStats = await runCli(['fid', merged, b, ...f, '--json']);
  assert.equal(viaStats.code, 0, viaStats.stderr);
  const d = JSON.parse(direct.stdout.toString()) as { fid: number; n: number[]; per_class: Record<string, number> };
  const s = JSON.parse(viaStats.stdout.toString()) as { fid: number; n: number[] };
  assert.deepEqual(d.n, [36, 36]);
  assert.ok(Math.abs(d.fid - s.fid) / d.fid < 1e-9, `${d.fid} vs ${s.fid}`);
  assert.deepEqual(Object.keys(d.per_class), ['0', '1']); // classes 2 and 3 are on one side only
  assert.match(direct.stderr, /classes present on one side only.*2, 3/);
  const human = await runCli(['fid', merged, merged]);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout.toString(), /^FID -?0\.0000 /);
});

test('inception-score --features DIR: the classifier logits, 10 consecutive splits in read order', async () => {
  await setup();
  const r = await runCli(['inception-score', a, '--features', clf, '--json', '--backend', 'cpu']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout.toString()) as { inception_score_mean: number; inception_score_std: number; n: number };
  // the same logits read in-process, scored over the same splits
  const ex = await classifierExtractor(clf);
  const logits: number[] = [];
  for await (const batch of featureBatches(openSource([a]), ex, { batchSize: 7 })) logits.push(...batch.logits);
  ex.dispose();
  const want = inceptionScore(logits, 10, 10);
  assert.equal(out.n, 36);
  assert.ok(Math.abs(out.inception_score_mean - want.mean) < 1e-9 && Math.abs(out.inception_score_std - want.std) < 1e-9);
  assert.ok(out.inception_score_mean >= 1);
});

test('usage errors exit 2: one source without --save-stats, statistics with --kid, --merge-stats without -o', async () => {
  await setup();
  const npz = join(root, 'full.npz');
  for (const args of [['fid', a], ['fid', npz, npz, '--kid'], ['fid', '--merge-stats', npz], ['fid', a, b, '--resize', 'lanczos']]) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
  }
});

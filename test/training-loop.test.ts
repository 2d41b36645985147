// The training loop on the cpu backend with a narrow ResNet-20 (width 4) on 8×8 gray images: an honest learning
// test, determinism, resume equivalence, checkpoint/log/metrics files, no tensor leaks.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { encodePng } from '../src/images/codec.js';
import { Rng } from '../src/util/rng.js';
import type { Sample } from '../src/shards/sample.js';
import { train, trainStep, type TrainOptions } from '../src/training/trainer.js';
import { createOptimizer } from '../src/training/optim.js';
import { makeBatch, NO_AUGMENT } from '../src/training/augment.js';
import { createClassifier } from '../src/models/registry.js';
import { loadClassifier } from '../src/models/store.js';
import { InputError } from '../src/errors.js';
import type { RecipeInput } from '../src/training/recipe.js';

before(async () => {
  await initBackend('cpu');
});

const SIZE = 8;

/** Class 0 "dark": pixels in [0, 100]; class 1 "bright": [155, 255]; independent noise per pixel. */
async function darkBright(count: number, seed: number, shard: string): Promise<Sample[]> {
  const rng = new Rng(seed);
  const out: Sample[] = [];
  for (let i = 0; i < count; i++) {
    const label = i % 2;
    const px = Uint8Array.from({ length: SIZE * SIZE }, () => (label === 0 ? 0 : 155) + rng.int(101));
    out.push({
      key: `img${String(i).padStart(4, '0')}`,
      shard,
      fields: {
        png: await encodePng(px, { width: SIZE, height: SIZE, channels: 1 }),
        cls: Buffer.from(String(label)),
        json: Buffer.from(JSON.stringify({ class: label === 0 ? 'dark' : 'bright' })),
      },
    });
  }
  return out;
}

function sourceOf(samples: Sample[]) {
  return () =>
    (async function* () {
      yield* samples;
    })();
}

const recipe = (over: Partial<RecipeInput> = {}): RecipeInput => ({
  arch: 'resnet20',
  archOptions: { width: 4 },
  steps: 12,
  batchSize: 16,
  optimizer: 'sgd',
  lr: 0.05,
  momentum: 0.9,
  nesterov: false,
  weightDecay: 5e-4,
  warmup: 2,
  labelSmoothing: 0,
  flip: false,
  cropPadding: 0,
  padMode: 'zero',
  mixup: 0,
  seed: 1,
  shuffleBuffer: 64,
  ...over,
});

let trainSet: Sample[];
let testSet: Sample[];
const dirs: string[] = [];

async function outDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'synthaug-train-'));
  dirs.push(d);
  return d;
}

before(async () => {
  trainSet = await darkBright(64, 1, 'train.tar');
  testSet = await darkBright(64, 2, 'test.tar');
});

test.after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function opts(out: string, over: Partial<TrainOptions> = {}): TrainOptions {
  return { source: sourceOf(trainSet), val: sourceOf(testSet), recipe: recipe(), outDir: out, progress: 'none', ...over };
}

test('a ResNet-20 learns dark vs bright images to ≥ 95% held-out accuracy in 12 steps', async () => {
  const out = await outDir();
  const r = await train(opts(out));
  assert.equal(r.steps, 12);
  assert.ok(r.metrics, 'metrics on --val');
  assert.ok(r.metrics.top1 >= 0.95, `held-out top-1 ${r.metrics.top1}`);
  assert.deepEqual(r.metrics.classNames, ['dark', 'bright']);
  // The directory is a classifier directory, with a checkpoint, the log and the metrics.
  const { config } = await loadClassifier(out);
  assert.deepEqual(config.classNames, ['dark', 'bright']);
  assert.deepEqual(config.inputShape, [8, 8, 1]);
  const metrics = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8'));
  assert.equal(metrics.top1, r.metrics.top1);
  assert.equal(metrics.confusion.length, 2);
  const log = (await readFile(join(out, 'log.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(log.some((l) => l.type === 'train' && l.step === 12 && typeof l.lr === 'number' && typeof l.imagesPerSec === 'number'));
  assert.ok(log.some((l) => l.type === 'val' && l.step === 12 && l.acc === r.metrics!.top1));
  r.model.dispose();
});

test('log lines name the epoch of their steps, also the closing one after the last epoch', async () => {
  const out = await outDir();
  // 64 images, batch 16: 4 steps an epoch, 8 in all; lines at steps 3 and 6, and a closing line at step 8.
  const r = await train(opts(out, { recipe: recipe({ steps: undefined, epochs: 2 }), val: undefined, logEvery: 3 }));
  assert.equal(r.steps, 8);
  const log = (await readFile(join(out, 'log.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  const train_ = log.filter((l) => l.type === 'train').map((l) => [l.step, l.epoch]);
  assert.deepEqual(train_, [[3, 0], [6, 1], [8, 1]]);
  r.model.dispose();
});

test('a run resumed at the end of a pass prints no line for the empty rest of that pass', async () => {
  // 48 images, batch 16: 3 steps an epoch, 2 epochs; the checkpoint of step 3 closes epoch 0, and the
  // run is interrupted after step 4. The resumed run finds epoch 0 done: no steps, so no line for it.
  const r = recipe({ steps: undefined, epochs: 2 });
  const small = { source: sourceOf(trainSet.slice(0, 48)), val: undefined };
  const out = await outDir();
  const stop = new AbortController();
  (await train(opts(out, { ...small, recipe: r, saveEvery: 3, signal: stop.signal, onStep: (s) => s === 4 && stop.abort() }))).model.dispose();
  const trainer = JSON.parse(await readFile(join(out, 'checkpoint', 'trainer.json'), 'utf8'));
  assert.deepEqual([trainer.step, trainer.pass, trainer.consumed], [3, 0, 48]);
  (await train(opts(out, { ...small, recipe: r, saveEvery: 3, resume: true }))).model.dispose();
  const log = (await readFile(join(out, 'log.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  const train_ = log.filter((l) => l.type === 'train');
  assert.deepEqual(train_.map((l) => [l.step, l.epoch]), [[3, 0], [6, 1]]);
  assert.ok(train_.every((l) => l.loss > 0 && l.imagesPerSec > 0));
});

async function weights(dir: string): Promise<Float32Array[]> {
  const { model } = await loadClassifier(dir);
  const out = [...model.stateDict().values()].map((v) => v.dataSync() as Float32Array);
  model.dispose();
  return out;
}

test('same seed and data → identical weights; another seed → different weights', async () => {
  const r = recipe({ steps: 3, cropPadding: 1, flip: true, mixup: 0.4, labelSmoothing: 0.1 });
  const [a, b, c] = [await outDir(), await outDir(), await outDir()];
  (await train(opts(a, { recipe: r, val: undefined }))).model.dispose();
  (await train(opts(b, { recipe: r, val: undefined }))).model.dispose();
  (await train(opts(c, { recipe: { ...r, seed: 2 }, val: undefined }))).model.dispose();
  const [wa, wb, wc] = [await weights(a), await weights(b), await weights(c)];
  assert.deepEqual(wa, wb);
  assert.notDeepEqual(wa, wc);
});

test('--resume after an interruption gives the same weights as an uninterrupted run', async () => {
  // By epochs: 48 samples, batch 16 → 3 steps per epoch, 2 epochs; checkpoint every 2 steps (mid-epoch),
  // interrupted after step 3, resumed from the step-2 checkpoint.
  const r = recipe({ steps: undefined, epochs: 2, optimizer: 'adamw', lr: 1e-3, cropPadding: 1, flip: true, mixup: 0.2 });
  const small = { source: sourceOf(trainSet.slice(0, 48)), val: sourceOf(testSet.slice(0, 16)) };
  const whole = await outDir();
  (await train(opts(whole, { ...small, recipe: r, saveEvery: 2 }))).model.dispose();
  const cut = await outDir();
  const stop = new AbortController();
  const first = await train(opts(cut, { ...small, recipe: r, saveEvery: 2, signal: stop.signal, onStep: (s) => s === 3 && stop.abort() }));
  assert.equal(first.aborted, true);
  first.model.dispose();
  const trainer = JSON.parse(await readFile(join(cut, 'checkpoint', 'trainer.json'), 'utf8'));
  assert.equal(trainer.step, 2);
  assert.equal(trainer.consumed, 32); // 2 batches of 16 into epoch 0
  const resumed = await train(opts(cut, { ...small, recipe: r, saveEvery: 2, resume: true }));
  assert.equal(resumed.steps, 6);
  resumed.model.dispose();
  assert.deepEqual(await weights(cut), await weights(whole));
  // Training into a directory that holds a checkpoint without --resume is refused.
  await assert.rejects(train(opts(whole, { ...small, recipe: r })), /already holds a training checkpoint/);
});

test('a val set whose class names disagree with the training data is an InputError naming shard and key', async () => {
  const swapped = testSet.map((s) => ({ ...s, fields: { ...s.fields, json: Buffer.from(JSON.stringify({ class: s.fields.cls.toString() === '0' ? 'bright' : 'dark' })) } }));
  for (const skipBad of [false, true]) {
    // --skip-bad skips bad samples, never a disagreement between data sets.
    await assert.rejects(
      train(opts(await outDir(), { recipe: recipe({ steps: 1 }), val: sourceOf(swapped), skipBad })),
      (err: unknown) => err instanceof InputError && err.shard === 'test.tar' && err.key === 'img0000' && /named "bright" here but "dark"/.test(err.message),
    );
  }
});

test('bad samples: an InputError naming shard and key, or skipped and counted with skipBad', async () => {
  const broken = [...trainSet.slice(0, 20), { key: 'broken', shard: 'train.tar', fields: { png: Buffer.from('not a png'), cls: Buffer.from('0') } }, ...trainSet.slice(20)];
  await assert.rejects(
    train(opts(await outDir(), { source: sourceOf(broken), recipe: recipe({ steps: 2, shuffleBuffer: 0 }), val: undefined })),
    (err: unknown) => err instanceof InputError && err.key === 'broken' && err.shard === 'train.tar',
  );
  const r = await train(opts(await outDir(), { source: sourceOf(broken), recipe: recipe({ steps: 2, shuffleBuffer: 0 }), val: undefined, skipBad: true }));
  assert.equal(r.steps, 2);
  r.model.dispose();
});

test('a training step leaks no tensors', () => {
  const model = createClassifier({ arch: 'resnet20', numClasses: 2, inputShape: [SIZE, SIZE, 1], options: { width: 4 } }, 0);
  const named = model.namedParameters();
  const opt = createOptimizer(named, { optimizer: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
  const images = Array.from({ length: 4 }, (_, i) => new Uint8Array(SIZE * SIZE).fill(i * 60));
  const batch = makeBatch(images, [0, 1, 0, 1], [SIZE, SIZE, 1], 2, { mean: [0.5], std: [0.3] }, { ...NO_AUGMENT, labelSmoothing: 0.1 }, new Rng(0));
  const vars = named.map(([, v]) => v);
  trainStep(model, opt, vars, batch, [SIZE, SIZE, 1], 2, 0.1); // creates the momentum buffers
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) trainStep(model, opt, vars, batch, [SIZE, SIZE, 1], 2, 0.1);
  assert.equal(tf.memory().numTensors, before);
  opt.dispose();
  model.dispose();
});

// The training loop's step and its parts against direct computations: micro-batch accumulation equals
// one pass over the whole batch, clipping by global norm, the EMA with warmup, the warmup-then-constant
// learning rate, and the non-finite guard (skip and count, stop after 10 in a row).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { UNet, defaultUNetConfig } from '../src/models/unet.js';
import { EDM_DEFAULTS, drawEdmNoise, edmLoss } from '../src/diffusion/edm.js';
import { Ema, clipByGlobalNorm, microBatchGradients } from '../src/training/step.js';
import { Sgd } from '../src/training/optim.js';
import { learningRate, newLoopState, runLoop, type TrainingTask } from '../src/training/loop.js';
import type { LoopSettings } from '../src/training/checkpoint.js';
import { BadInputs } from '../src/shards/bad.js';
import { encodePng } from '../src/images/codec.js';
import { UsageError } from '../src/errors.js';
import { train } from '../src/training/trainer.js';
import { Rng } from '../src/util/rng.js';
import type { Sample } from '../src/shards/sample.js';
import { assertClose } from './helpers/close.js';

before(async () => {
  await initBackend('wasm');
});

test('gradients summed over micro-batches (weights n_m/B) equal the gradient of one pass over the batch', () => {
  const net = new UNet({ ...defaultUNetConfig, baseChannels: 8, groups: 4, numResBlocks: 1, dropout: 0, imageSize: 4, inChannels: 1, numClasses: 2, channelMult: [1, 2] }, 1);
  const rng = new Rng(3);
  for (const [, v] of net.namedParameters()) v.assign(tf.tensor(Float32Array.from({ length: v.size }, () => 0.3 * rng.normal()), v.shape));
  const b = 6;
  const x0 = Float32Array.from({ length: b * 16 }, () => rng.random() * 2 - 1);
  const draw = drawEdmNoise([b, 4, 4, 1], [0, 1, 0, 1, 1, 0], { numClasses: 2, constants: EDM_DEFAULTS }, rng);
  const part = (s: number, e: number) => () => ({
    loss: edmLoss(net, tf.tensor4d(x0.subarray(s * 16, e * 16), [e - s, 4, 4, 1]), { sigma: draw.sigma.subarray(s, e), noise: draw.noise.subarray(s * 16, e * 16), y: draw.y.subarray(s, e) }, EDM_DEFAULTS, false),
  });
  const params = net.namedParameters();
  // Uneven micro-batches 4 + 2.
  const micro = microBatchGradients(params, [
    { weight: 4 / 6, run: part(0, 4) },
    { weight: 2 / 6, run: part(4, 6) },
  ]);
  const whole = tf.variableGrads(() => part(0, 6)().loss, params.map(([, v]) => v));
  assert.ok(Math.abs(micro.loss - whole.value.dataSync()[0]) < 1e-5 * Math.max(1, micro.loss));
  for (const [name, v] of params) assertClose(micro.grads.get(name)!.dataSync(), whole.grads[v.name].dataSync(), 2e-4, name);
  tf.dispose([...micro.grads.values(), whole.value, ...Object.values(whole.grads)]);
  net.dispose();
});

test('clipping by global norm: √Σ‖g‖², and the factor c/‖g‖ when above c, applied by the optimiser', () => {
  const a = [3, -4, 1];
  const b = [2, 0.5];
  const norm = Math.sqrt([...a, ...b].reduce((s, v) => s + v * v, 0));
  const grads = new Map<string, tf.Tensor>([
    ['a', tf.tensor1d(a)],
    ['b', tf.tensor2d(b, [1, 2])],
  ]);
  const measured = clipByGlobalNorm(grads, 0); // 0: measure only
  assert.ok(Math.abs(measured.norm - norm) < 1e-5);
  assert.equal(measured.scale, 1);
  const clipped = clipByGlobalNorm(grads, 2);
  assert.ok(Math.abs(clipped.norm - norm) < 1e-5);
  assert.ok(Math.abs(clipped.scale - 2 / norm) < 1e-6);
  assert.equal(clipByGlobalNorm(grads, 100).scale, 1); // below the bound: unchanged
  assertClose(grads.get('a')!.dataSync(), a, 0); // the gradients themselves are left alone
  // The optimiser's step with the factor is the step on the scaled gradients (SGD, lr 1: p ← p − scale·g).
  const pa = tf.variable(tf.zeros([3]));
  const opt = new Sgd([['a', pa]], { momentum: 0, nesterov: false, weightDecay: 0 });
  opt.step({ a: grads.get('a')! }, 1, clipped.scale);
  assertClose(pa.dataSync(), a.map((v) => (-v * 2) / norm), 1e-5, 'a');
  tf.dispose([...grads.values(), pa]);
});

test('EMA with warmup: d_t = min(decay, (1+t)/(10+t)), ema ← d·ema + (1−d)·p, from the initial weights', () => {
  const p = tf.variable(tf.tensor1d([1, -2]));
  const ema = new Ema([['p', p]], 0.5, true);
  let want = [1, -2];
  const values = [[3, 0], [-1, 4], [10, 10]];
  values.forEach((v, i) => {
    p.assign(tf.tensor1d(v));
    ema.update(i + 1);
    const d = Math.min(0.5, (2 + i) / (11 + i));
    want = want.map((w, k) => d * w + (1 - d) * v[k]);
  });
  assertClose(ema.tensors().get('p')!.dataSync(), want, 1e-6);
  assert.equal(new Ema([['p', p]], 0.999, false).decayAt(1), 0.999);
  ema.dispose();
  p.dispose();
});

test('learning rate: linear warmup to lr, then constant (or cosine to 0)', () => {
  const s = { lr: 0.4, warmupSteps: 4, totalSteps: 10, lrDecay: 'constant' } as LoopSettings;
  assert.deepEqual([0, 1, 2, 3, 4, 9].map((k) => learningRate(s, k)), [0.1, 0.2, 0.30000000000000004, 0.4, 0.4, 0.4]);
  const c = { ...s, lrDecay: 'cosine' as const };
  assert.ok(Math.abs(learningRate(c, 7) - 0.4 * 0.5 * (1 + Math.cos((Math.PI * 3) / 6))) < 1e-12);
});

/** A one-parameter task: loss w²·(mean pixel), NaN at the steps listed in `nanAt`. */
function toyTask(nanAt: (step: number) => boolean): TrainingTask<{ x: number; step: number }> & { w: tf.Variable } {
  const w = tf.variable(tf.scalar(1));
  let step = 0;
  return {
    kind: 'classifier',
    w,
    parameters: () => [['w', w]],
    state: () => ({}),
    makeBatch: (items) => ({ x: items.reduce((s, e) => s + e.image[0], 0) / items.length / 255, step: step++ }),
    batchSize: () => 2,
    loss: (b) => ({ loss: tf.mul(tf.square(w), nanAt(b.step) ? NaN : b.x) as tf.Scalar }),
    modelFiles: () => [['config.json', `${JSON.stringify({ w: w.dataSync()[0] })}\n`]],
  };
}

async function toySamples(n: number): Promise<Sample[]> {
  return Promise.all(Array.from({ length: n }, async (_, i) => ({ key: `s${i}`, fields: { png: await encodePng(new Uint8Array(4).fill(100 + i), { width: 2, height: 2, channels: 1 }) } })));
}

test('non-finite losses: a step is skipped and counted; 10 in a row stop training with an error', async () => {
  const samples = await toySamples(8);
  const labels = { observe: () => 0 };
  const settings: LoopSettings = { seed: 0, batchSize: 2, microBatch: 2, shuffleBuffer: 0, totalSteps: 6, lr: 0.1, warmupSteps: 0, lrDecay: 'constant', optimizer: { optimizer: 'sgd', momentum: 0, nesterov: false, weightDecay: 0 }, clip: 0 };
  const dir = await mkdtemp(join(tmpdir(), 'synthaug-step-'));
  try {
    const o = { source: () => (async function* () { yield* samples; })(), spec: { height: 2, width: 2, channels: 1 as const, resize: 'none' as const }, labels, bad: new BadInputs({}, 'sample'), progress: 'none' as const };
    const once = toyTask((s) => s === 2);
    const r = await runLoop(once, newLoopState('classifier', settings, {}), { ...o, outDir: join(dir, 'a') });
    assert.equal(r.steps, 6);
    assert.equal(r.skipped, 1);
    assert.ok(Number.isFinite(once.w.dataSync()[0]));
    const always = toyTask(() => true);
    await assert.rejects(runLoop(always, newLoopState('classifier', { ...settings, totalSteps: 50 }, {}), { ...o, outDir: join(dir, 'b') }), /10 steps in a row with a non-finite loss/);
    assert.equal(always.w.dataSync()[0], 1); // never updated
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('train-classifier refuses a non-empty output directory without a checkpoint unless forced', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'synthaug-force-'));
  try {
    await writeFile(join(dir, 'notes.txt'), 'mine');
    const samples = (await toySamples(4)).map((s, i) => ({ ...s, fields: { ...s.fields, cls: Buffer.from(String(i % 2)) } }));
    const source = () => (async function* () { yield* samples; })();
    const recipe = { arch: 'resnet20', archOptions: { width: 4 }, steps: 1, batchSize: 4, optimizer: 'sgd' as const, lr: 0.1, momentum: 0.9, nesterov: false, weightDecay: 0, warmup: 0, labelSmoothing: 0, flip: false, cropPadding: 0, padMode: 'zero' as const, mixup: 0, seed: 0, shuffleBuffer: 0 };
    await assert.rejects(train({ source, recipe, outDir: dir, progress: 'none' }), (e: unknown) => e instanceof UsageError && /not empty.*--force/.test(e.message));
    const r = await train({ source, recipe, outDir: dir, progress: 'none', force: true });
    assert.equal(r.steps, 1);
    r.model.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('progress on a terminal: one bar over a run by steps (from the resumed step) with loss and images/s, no accuracy', async () => {
  const { createProgress } = await import('../src/training/progress.js');
  const { PassThrough } = await import('node:stream');
  const stream = Object.assign(new PassThrough(), { isTTY: true, columns: 200, cursorTo: () => true, clearLine: () => true, moveCursor: () => true });
  let text = '';
  stream.on('data', (b: Buffer) => (text += b.toString()));
  const bar = createProgress('bar', stream as unknown as NodeJS.WritableStream);
  bar.startEpoch(0, undefined, 10, { from: 4 });
  bar.update(5, { loss: 0.25, imagesPerSec: 12 });
  bar.stop();
  assert.match(text, /steps \[.*\] 5\/10 \| loss 0\.2500 \| 12 img\/s/);
  assert.doesNotMatch(text, /acc/);
});

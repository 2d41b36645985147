// The fused optimiser and moving-average kernels (SynthaugAdamW, SynthaugSgd, SynthaugEma: one native pass
// per parameter) against the tfjs-op updates they replace, over several steps on random parameters and
// gradients: AdamW and SGD (plain, momentum, Nesterov), with and without weight decay, with clipping's
// gradient factor. The op path runs on WASM alone (the native kernels unregistered) and is itself checked
// against the cpu backend. Weights, optimiser state and the average must agree to 1e-6 (relErr).
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, nativeKernels } from '../src/backend/index.js';
import { setNativeThreads, nativeThreads } from '../src/backend/native/kernels.js';
import { AdamW, Sgd, type Optimizer } from '../src/training/optim.js';
import { Ema } from '../src/training/step.js';
import { Rng } from '../src/util/rng.js';
import { relErr } from './helpers/compare.js';
import { nativeMissing } from './helpers/native.js';

const TOL = 1e-6;

const missing = nativeMissing;

// Ranks 1, 2 and 4 (decayed or not), a ViT embedding (never decayed), odd sizes for the loops' tails and
// one parameter above the size at which the native pass splits over threads.
const SHAPES: Array<[string, number[]]> = [
  ['conv.weight', [3, 3, 64, 64]],
  ['conv.bias', [37]],
  ['fc.weight', [5, 7]],
  ['pos_embed', [1, 5, 8]],
];

type Make = (named: Array<[string, tf.Variable]>) => Optimizer;

const OPTIMIZERS: Array<[string, Make]> = [
  ['AdamW', (n) => new AdamW(n, { weightDecay: 0 })],
  ['AdamW, weight decay 0.05', (n) => new AdamW(n, { weightDecay: 0.05 })],
  ['SGD', (n) => new Sgd(n, { momentum: 0, nesterov: false, weightDecay: 0 })],
  ['SGD, weight decay 5e-4', (n) => new Sgd(n, { momentum: 0, nesterov: false, weightDecay: 5e-4 })],
  ['SGD momentum 0.9', (n) => new Sgd(n, { momentum: 0.9, nesterov: false, weightDecay: 0 })],
  ['SGD momentum 0.9, weight decay 5e-4', (n) => new Sgd(n, { momentum: 0.9, nesterov: false, weightDecay: 5e-4 })],
  ['SGD Nesterov 0.9, weight decay 5e-4', (n) => new Sgd(n, { momentum: 0.9, nesterov: true, weightDecay: 5e-4 })],
];

interface Run {
  weights: Map<string, Float32Array>;
  state: Map<string, Float32Array>;
  average: Map<string, Float32Array>;
  steps: number;
}

const STEPS = 6;

/** STEPS updates from seeded parameters and gradients; every other step with clipping's factor 0.37. */
function train(make: Make, seed = 7): Run {
  const rng = new Rng(seed);
  const randn = (shape: number[], s: number) => tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => s * rng.normal()), shape);
  const named = SHAPES.map(([name, shape]) => [name, tf.variable(randn(shape, 0.5), true, `${name}_${Math.random()}`)] as [string, tf.Variable]);
  const opt = make(named);
  const ema = new Ema(named, 0.999, true);
  for (let k = 0; k < STEPS; k++) {
    const grads = Object.fromEntries(named.map(([, v]) => [v.name, randn(v.shape, 0.1 * (k + 1))]));
    opt.step(grads, 0.01 * (1 + k) ** -0.5, k % 2 === 1 ? 0.37 : 1);
    ema.update(opt.steps);
    tf.dispose(Object.values(grads));
  }
  const saved = opt.stateDict();
  const run: Run = {
    weights: new Map(named.map(([n, v]) => [n, v.dataSync() as Float32Array])),
    state: new Map([...saved.tensors].map(([k, t]) => [k, t.data])),
    average: new Map([...ema.stateDict()].map(([k, t]) => [k, t.data])),
    steps: saved.scalars.step,
  };
  opt.dispose();
  ema.dispose();
  tf.dispose(named.map(([, v]) => v));
  return run;
}

/** The largest relErr over every weight, state tensor and average; fails on differing names. */
function worst(got: Run, want: Run): number {
  assert.equal(got.steps, want.steps);
  let err = 0;
  for (const part of ['weights', 'state', 'average'] as const) {
    assert.deepEqual([...got[part].keys()].sort(), [...want[part].keys()].sort(), part);
    for (const [k, w] of want[part]) err = Math.max(err, relErr(got[part].get(k)!, w));
  }
  return err;
}

/** The kernels a step after the first and an EMA update launch, by name. */
async function kernelsOf(make: Make): Promise<Map<string, number>> {
  const named = SHAPES.map(([name, shape]) => [name, tf.variable(tf.ones(shape), true, `${name}_${Math.random()}`)] as [string, tf.Variable]);
  const opt = make(named);
  const ema = new Ema(named, 0.999, true);
  const grads = Object.fromEntries(named.map(([, v]) => [v.name, tf.onesLike(v)]));
  opt.step(grads, 0.01); // creates the state (zeros)
  const profile = await tf.profile(() => {
    opt.step(grads, 0.01, 0.5);
    ema.update(2);
  });
  tf.dispose([...Object.values(grads), ...named.map(([, v]) => v)]);
  opt.dispose();
  ema.dispose();
  const counts = new Map<string, number>();
  for (const k of profile.kernels) counts.set(k.name, (counts.get(k.name) ?? 0) + 1);
  return counts;
}

describe('optimiser updates as tfjs ops on WASM alone', () => {
  before(async () => {
    await initBackend('wasm');
  });

  test('match the cpu backend', async () => {
    for (const [what, make] of OPTIMIZERS) {
      nativeKernels.unregister();
      const onWasm = train(make);
      await initBackend('cpu');
      const onCpu = train(make);
      await initBackend('wasm');
      const err = worst(onWasm, onCpu);
      assert.ok(err <= TOL, `${what}: WASM vs cpu relative error ${err}`);
    }
  });
});

describe('fused optimiser and EMA kernels vs the tfjs ops', { skip: missing }, () => {
  before(async () => {
    await initBackend('native');
  });

  for (const [what, make] of OPTIMIZERS) {
    test(what, (t) => {
      nativeKernels.unregister();
      const ops = train(make);
      nativeKernels.register();
      const fused = train(make);
      const err = worst(fused, ops);
      t.diagnostic(`${what}: max relative difference ${err} over ${STEPS} steps`);
      assert.ok(err <= TOL, `${what}: fused vs ops relative error ${err}`);
    });
  }

  test('one kernel per parameter for the update and one for the average', async () => {
    nativeKernels.register();
    const adamw = await kernelsOf(OPTIMIZERS[1][1]);
    assert.deepEqual(Object.fromEntries(adamw), { SynthaugAdamW: SHAPES.length, SynthaugEma: SHAPES.length });
    const sgd = await kernelsOf(OPTIMIZERS[6][1]);
    assert.deepEqual(Object.fromEntries(sgd), { SynthaugSgd: SHAPES.length, SynthaugEma: SHAPES.length });
    nativeKernels.unregister();
    const ops = await kernelsOf(OPTIMIZERS[1][1]);
    assert.ok((ops.get('Multiply') ?? 0) >= 5 * SHAPES.length, `the op path launches Multiply ${ops.get('Multiply')} times`);
    nativeKernels.register();
  });

  test('the same bits on 1 and 2 threads, and from one seed twice', () => {
    nativeKernels.register();
    try {
      setNativeThreads(1);
      const one = train(OPTIMIZERS[1][1]);
      setNativeThreads(2);
      const two = train(OPTIMIZERS[1][1]);
      const again = train(OPTIMIZERS[1][1]);
      assert.equal(worst(two, one), 0);
      assert.equal(worst(again, two), 0);
    } finally {
      setNativeThreads(nativeThreads());
    }
  });

  test('state saved from the fused path resumes on the op path exactly as a straight run', () => {
    nativeKernels.register();
    const named = () => SHAPES.map(([name, shape]) => [name, tf.variable(tf.fill(shape, 0.25), true, `${name}_${Math.random()}`)] as [string, tf.Variable]);
    const grads = (ps: Array<[string, tf.Variable]>, k: number) => Object.fromEntries(ps.map(([, v]) => [v.name, tf.fill(v.shape, 0.1 * (k + 1) - 0.25)]));
    const [a, b] = [named(), named()];
    const [optA, optB] = [new AdamW(a, { weightDecay: 0.05 }), new AdamW(b, { weightDecay: 0.05 })];
    for (const k of [0, 1]) {
      const [ga, gb] = [grads(a, k), grads(b, k)];
      optA.step(ga, 0.01);
      optB.step(gb, 0.01);
      tf.dispose([...Object.values(ga), ...Object.values(gb)]);
    }
    // b's state goes into a fresh optimiser, which continues on the op path; a continues fused.
    const c = named();
    c.forEach(([, v], i) => v.assign(b[i][1]));
    const optC = new AdamW(c, { weightDecay: 0.05 });
    optC.loadStateDict(optB.stateDict());
    const [ga, gc] = [grads(a, 2), grads(c, 2)];
    optA.step(ga, 0.01);
    nativeKernels.unregister();
    optC.step(gc, 0.01);
    nativeKernels.register();
    for (let i = 0; i < SHAPES.length; i++) assert.ok(relErr(c[i][1].dataSync(), a[i][1].dataSync()) <= TOL, SHAPES[i][0]);
    tf.dispose([...Object.values(ga), ...Object.values(gc), ...[a, b, c].flat().map(([, v]) => v)]);
    [optA, optB, optC].forEach((o) => o.dispose());
  });
});

// The oneDNN kernels (--backend native) against tfjs's pure-JS cpu backend on random geometries, in both
// memory layouts; whole training-step gradients native vs WASM; 1 vs 2 threads; no tensor, primitive or
// memory growth over many steps; a seeded run repeats exactly. Error measure: relErr (compare.ts), 1e-4
// for single kernels. Everything here is skipped, saying so, where the addon is not built.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { relErr } from './helpers/compare.js';
import { clearNativeCache, nativeInfo, nativeKernels, nativeThreads, setNativeThreads } from '../src/backend/native/kernels.js';
import { createClassifier } from '../src/models/registry.js';
import { UNet, defaultUNetConfig } from '../src/models/unet.js';
import { makeSchedule } from '../src/diffusion/schedule.js';
import { drawTrainingNoise, noisePredictionLoss } from '../src/diffusion/loss.js';
import type { Module } from '../src/nn/module.js';
import { channelAffine, channelDot, channelSum } from '../src/nn/channels.js';
import { BatchNorm, GroupNorm, silu } from '../src/nn/index.js';
import { checkNormGradients, plainBatchNorm, plainGroupNorm } from './helpers/norm.js';
import { Rng } from '../src/util/rng.js';
import { nativeMissing } from './helpers/native.js';

const TOL = 1e-4;

const missing = nativeMissing;

type Data = { shape: number[]; values: Float32Array };

function randn(rng: Rng, shape: number[]): Data {
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < values.length; i++) values[i] = rng.normal();
  return { shape, values };
}

/** One kernel on `backend` ('cpu', or 'wasm' with whatever kernels are registered). */
/** One kernel on `backend` ('cpu', or 'wasm' with whatever kernels are registered); inputs by name, or a list (Concat). */
async function runOn(backend: string, kernel: string, inputs: Record<string, Data> | Data[], attrs: object): Promise<Data[]> {
  await tf.setBackend(backend);
  const ts = Array.isArray(inputs)
    ? inputs.map((v) => tf.tensor(v.values, v.shape))
    : Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, tf.tensor(v.values, v.shape)]));
  const out = tf.engine().runKernel(kernel, ts as never, attrs as tf.NamedAttrMap) as tf.Tensor | tf.Tensor[];
  const outs = Array.isArray(out) ? out : [out];
  const result = outs.map((o) => ({ shape: o.shape, values: o.dataSync().slice() as Float32Array }));
  tf.dispose([...outs, ...Object.values(ts)]);
  return result;
}

async function againstCpu(kernel: string, inputs: Record<string, Data> | Data[], attrs: object, tol = TOL): Promise<void> {
  const ref = await runOn('cpu', kernel, inputs, attrs);
  const got = await runOn('wasm', kernel, inputs, attrs);
  assert.equal(got.length, ref.length, `${kernel}: outputs`);
  got.forEach((g, i) => {
    assert.deepEqual(g.shape, ref[i].shape, `${kernel} output ${i} shape`);
    const err = relErr(g.values, ref[i].values);
    assert.ok(err <= tol, `${kernel} output ${i}: relative error ${err}`);
  });
}

type Pad = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];
interface ConvCase {
  x: number[];
  k: [number, number];
  co: number;
  strides: [number, number];
  dilations: [number, number];
  pad: Pad;
}

/** Fixed network geometries, then random ones: odd sizes, asymmetric kernels, explicit pads, dilations. */
function convCases(seed: number, count: number): ConvCase[] {
  const rng = new Rng(seed);
  const one: [number, number] = [1, 1];
  const fixed: ConvCase[] = [
    { x: [4, 8, 8, 16], k: [3, 3], co: 16, strides: one, dilations: one, pad: 'same' }, // ResNet-20 stage
    { x: [4, 9, 9, 8], k: [3, 3], co: 16, strides: [2, 2], dilations: one, pad: 'same' }, // downsampling
    { x: [2, 9, 7, 12], k: [1, 7], co: 8, strides: one, dilations: one, pad: 'same' }, // Inception 1x7
    { x: [2, 15, 15, 3], k: [3, 3], co: 32, strides: [2, 2], dilations: one, pad: 'valid' }, // Inception stem
    { x: [1, 10, 13, 5], k: [2, 2], co: 3, strides: [3, 3], dilations: one, pad: 'valid' }, // leftover rows and columns
    { x: [1, 6, 6, 2], k: [3, 3], co: 2, strides: [2, 1], dilations: one, pad: [[0, 0], [2, 0], [1, 2], [0, 0]] },
  ];
  const random: ConvCase[] = [];
  while (random.length < count) {
    const k: [number, number] = [1 + rng.int(4), 1 + rng.int(4)];
    const dilated = rng.int(3) === 0;
    const c: ConvCase = {
      x: [1 + rng.int(3), 1 + rng.int(12), 1 + rng.int(12), 1 + rng.int(9)],
      k,
      co: 1 + rng.int(9),
      strides: dilated ? one : [1 + rng.int(3), 1 + rng.int(3)],
      dilations: dilated ? [1 + rng.int(3), 1 + rng.int(3)] : one,
      pad: ['same', 'valid', 'explicit'][rng.int(3)] === 'explicit'
        ? [[0, 0], [rng.int(k[0]), rng.int(k[0])], [rng.int(k[1]), rng.int(k[1])], [0, 0]]
        : rng.int(2) === 0 ? 'same' : 'valid',
    };
    const info = tf.backend_util.computeConv2DInfo(c.x as never, [...k, c.x[3], c.co] as never, c.strides, c.dilations, c.pad as never);
    if (info.outHeight > 0 && info.outWidth > 0) random.push(c);
  }
  return [...fixed, ...random];
}

const describeCase = (c: ConvCase) =>
  `x=[${c.x}] k=${c.k.join('x')} co=${c.co} s=${c.strides.join(',')} d=${c.dilations.join(',')} pad=${JSON.stringify(c.pad)}`;

before(async () => {
  if (missing) return;
  await import('@tensorflow/tfjs-backend-cpu');
  const info = await initBackend('native');
  assert.equal(info.kind, 'native');
});

after(async () => {
  if (missing) return;
  delete process.env.SYNTHAUG_NATIVE_LAYOUT;
  setNativeThreads(nativeThreads());
});

for (const layout of ['blocked', 'plain']) {
  describe(`oneDNN conv kernels vs cpu (${layout} layout)`, { skip: missing }, () => {
    before(() => void (process.env.SYNTHAUG_NATIVE_LAYOUT = layout));
    for (const c of convCases(layout === 'plain' ? 11 : 12, 12)) {
      test(describeCase(c), async () => {
        const rng = new Rng(c.x.reduce((a, b) => a * 31 + b, c.co));
        const filterShape = [...c.k, c.x[3], c.co];
        const info = tf.backend_util.computeConv2DInfo(c.x as never, filterShape as never, c.strides, c.dilations, c.pad as never);
        const x = randn(rng, c.x);
        const w = randn(rng, filterShape);
        const common = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: undefined };
        await againstCpu('Conv2D', { x, filter: w }, { ...common, dilations: c.dilations });
        const bias = randn(rng, [c.co]);
        for (const activation of ['linear', 'relu', 'relu6', 'elu', 'leakyrelu', 'sigmoid']) {
          await againstCpu('FusedConv2D', { x, filter: w, bias }, { ...common, dilations: c.dilations, activation, leakyreluAlpha: 0.3 });
        }
        // tfjs takes conv gradients for dilation 1 only.
        if (c.dilations[0] !== 1 || c.dilations[1] !== 1) return;
        const dy = randn(rng, info.outShape);
        await againstCpu('Conv2DBackpropInput', { dy, filter: w }, { ...common, inputShape: c.x });
        await againstCpu('Conv2DBackpropFilter', { x, dy }, { ...common, filterShape });
      });
    }
  });
}

describe('oneDNN matrix products vs cpu', { skip: missing }, () => {
  const cases: [number[], number[], boolean, boolean][] = [
    [[7, 5], [5, 3], false, false],
    [[5, 7], [5, 3], true, false], // a linear layer's weight gradient xᵀ·dy
    [[7, 5], [3, 5], false, true], // its input gradient dy·Wᵀ
    [[5, 7], [3, 5], true, true],
    [[3, 6, 4], [3, 4, 9], false, false], // attention scores, per head
    [[2, 3, 6, 4], [2, 3, 9, 4], false, true],
    [[3, 6, 4], [1, 4, 9], false, false], // one side broadcast
    [[1, 4, 6], [3, 4, 9], true, false],
    [[64, 96], [96, 80], false, false],
  ];
  for (const [as, bs, transposeA, transposeB] of cases) {
    test(`[${as}]${transposeA ? 'ᵀ' : ''} · [${bs}]${transposeB ? 'ᵀ' : ''}`, async () => {
      const rng = new Rng(as.length * 100 + bs[bs.length - 1]);
      const a = randn(rng, as);
      const b = randn(rng, bs);
      await againstCpu('BatchMatMul', { a, b }, { transposeA, transposeB });
      const n = transposeB ? bs[bs.length - 2] : bs[bs.length - 1];
      const bias = randn(rng, [n]);
      for (const activation of ['linear', 'relu', 'elu', 'leakyrelu', 'sigmoid']) {
        await againstCpu('_FusedMatMul', { a, b, bias }, { transposeA, transposeB, activation, leakyreluAlpha: 0.1 });
      }
    });
  }

  test('cases without a native kernel fall back to the WASM ones (partial batch broadcast, PReLU)', async () => {
    const rng = new Rng(3);
    const a = randn(rng, [2, 1, 3, 4]);
    const b = randn(rng, [1, 2, 4, 5]);
    await againstCpu('BatchMatMul', { a, b }, { transposeA: false, transposeB: false });
    const x = randn(rng, [1, 5, 5, 2]);
    const w = randn(rng, [3, 3, 2, 3]);
    const alpha = randn(rng, [3]);
    await againstCpu('FusedConv2D', { x, filter: w, preluActivationWeights: alpha },
      { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', dilations: [1, 1], activation: 'prelu' });
  });
});

describe('native channel kernels (norm layers) and ReLU vs the tfjs-ops definitions on cpu', { skip: missing }, () => {
  before(() => initBackend('native'));
  // 40·31 rows per image split unevenly over the threads; perImage takes the per-image coefficients.
  for (const shape of [[3, 7, 5, 8], [2, 40, 31, 12]]) {
    for (const perImage of [false, true]) {
      test(`[${shape}] perImage=${perImage}`, async () => {
        const rng = new Rng(shape.reduce((a, b) => a + b) + (perImage ? 1 : 0));
        const C = shape[shape.length - 1];
        const stat = perImage ? [shape[0], C] : [C];
        const u = randn(rng, shape);
        u.values.forEach((x, i) => (u.values[i] = 2 * x + 3));
        const [v, m, a, b] = [randn(rng, shape), randn(rng, stat), randn(rng, stat), randn(rng, stat)];
        const outs: Record<string, Float32Array[]> = {};
        for (const backend of ['wasm', 'cpu']) {
          await tf.setBackend(backend);
          const ts = [u, v, m, a, b].map((d) => tf.tensor(d.values, d.shape));
          const [tu, tv, tm, ta, tb] = ts;
          let ys: tf.Tensor[] = [];
          const info = await tf.profile(() => {
            ys = [channelSum(tu, perImage), ...channelDot(tu, tv, tm, perImage), channelAffine(tu, ta, tm), channelAffine(tu, ta, tm, tv, tb)];
          });
          if (backend === 'wasm') {
            for (const name of ['SynthaugChannelSum', 'SynthaugChannelDot', 'SynthaugChannelAffine']) {
              assert.ok(info.kernels.some((k) => k.name === name), `${name} ran`);
            }
          }
          outs[backend] = ys.map((y) => y.dataSync().slice() as Float32Array);
          tf.dispose([...ys, ...ts]);
        }
        outs.wasm.forEach((o, i) => assert.ok(relErr(o, outs.cpu[i]) <= TOL, `output ${i}: relative error ${relErr(o, outs.cpu[i])}`));
      });
    }
  }

  test('BatchNorm and GroupNorm gradients vs autodiff of their plain formulas', async () => {
    await tf.setBackend('wasm');
    checkNormGradients(new BatchNorm(16), plainBatchNorm, [8, 9, 9, 16], 21);
    checkNormGradients(new GroupNorm(4, 16), plainGroupNorm(4), [3, 17, 17, 16], 23);
  });

  test('Relu', async () => {
    const rng = new Rng(8);
    await againstCpu('Relu', { x: randn(rng, [3, 17, 19, 5]) }, {});
    await againstCpu('Relu', { x: randn(rng, [64, 32, 32]) }, {}); // above the size that splits over threads
  });

  test('SiLU and its gradient (fused kernels) vs x·σ(x) and its autodiff on cpu', async () => {
    const rng = new Rng(12);
    // Random values, large ones both ways (σ saturates, e^x is clamped), zeros, and a size split over threads.
    for (const shape of [[3, 7, 5, 6], [64, 32, 32]]) {
      const x = randn(rng, shape);
      x.values.forEach((v, i) => (x.values[i] = i % 11 === 0 ? v * 40 : i % 13 === 0 ? 0 : v * 4));
      const dy = randn(rng, shape);
      const run = async (backend: string, f: (t: tf.Tensor) => tf.Tensor) => {
        await tf.setBackend(backend);
        const [xt, dyt] = [tf.tensor(x.values, shape), tf.tensor(dy.values, shape)];
        const y = f(xt);
        const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t), dyt)))(xt);
        const out = [y.dataSync().slice() as Float32Array, dx.dataSync().slice() as Float32Array];
        tf.dispose([xt, dyt, y, dx]);
        return out;
      };
      const [refY, refDx] = await run('cpu', (t) => tf.mul(t, tf.sigmoid(t)));
      assert.ok(tf.getKernel('SynthaugSilu', 'wasm') !== undefined, 'the native set registers SynthaugSilu');
      const [y, dx] = await run('wasm', silu);
      assert.ok(relErr(y, refY) <= TOL, `silu: relative error ${relErr(y, refY)}`);
      assert.ok(relErr(dx, refDx) <= TOL, `silu gradient: relative error ${relErr(dx, refDx)}`);
    }
    await tf.setBackend('wasm');
    const y = silu(tf.tensor([NaN, -Infinity, 1]));
    assert.ok(Number.isNaN(y.dataSync()[0]), 'a NaN input stays NaN');
    y.dispose();
  });

  // Data movement is exact: a copy. The last case of each list is one the native kernel leaves to WASM.
  test('Slice, SplitV, Unpack and Concat along every axis, exactly', async () => {
    const rng = new Rng(13);
    const x = randn(rng, [3, 5, 4, 6]);
    for (const [begin, size] of [[[0, 0, 0, 2], [3, 5, 4, 3]], [[1, 0, 0, 0], [2, 5, 4, 6]], [[0, 2, 0, 0], [-1, 2, -1, -1]], [[0, 0, 0, 0], [3, 5, 4, 6]],
      [[1, 1, 0, 0], [1, 2, 4, 6]]]) {
      await againstCpu('Slice', { x }, { begin, size }, 0);
    }
    await againstCpu('Slice', { x: randn(rng, [64, 28, 28, 48]) }, { begin: [0, 0, 0, 16], size: [64, 28, 28, 32] }, 0); // split over threads
    for (let axis = 0; axis < 4; axis++) {
      await againstCpu('SplitV', { x }, { numOrSizeSplits: axis === 3 ? [1, -1, 2] : x.shape[axis] === 5 ? [2, 3] : 1, axis }, 0);
      const parts = [1, 2, 3].map((n) => randn(rng, x.shape.map((d, i) => (i === axis ? n : d))));
      await againstCpu('Concat', parts, { axis }, 0);
      await againstCpu('Unpack', { value: x }, { axis }, 0);
    }
    await againstCpu('Concat', [randn(rng, [64, 28, 28, 32]), randn(rng, [64, 28, 28, 64])], { axis: -1 }, 0);
  });

  test('Transpose of ranks 1 to 6, exactly', async () => {
    const rng = new Rng(14);
    for (const shape of [[7], [5, 3], [2, 3, 4], [64, 49, 3, 4, 16], [2, 3, 1, 4, 5], [2, 1, 3, 2, 2, 3]]) {
      for (let k = 0; k < 3; k++) {
        const perm = shape.map((_, i) => i);
        for (let i = perm.length - 1; i > 0; i--) {
          const j = rng.int(i + 1);
          [perm[i], perm[j]] = [perm[j], perm[i]];
        }
        await againstCpu('Transpose', { x: randn(rng, shape) }, { perm }, 0);
      }
    }
  });

  test('Sum over leading axes or the middle ones (channel pass), others by WASM', async () => {
    const rng = new Rng(15);
    const cases: [number[], number[]][] = [[[8, 9, 9, 16], [0, 1, 2]], [[8, 9, 9, 16], [1, 2]], [[64, 28, 28, 32], [0, 1, 2]], [[300, 7], [0]],
      [[4, 5, 3], [1]], [[4, 5, 3], [-2]], [[8, 9, 9, 16], [0, 1]], [[8, 9, 9, 16], [3]]];
    for (const [shape, axis] of cases) {
      for (const keepDims of [false, true]) await againstCpu('Sum', { x: randn(rng, shape) }, { axis, keepDims });
    }
  });

  // Same shapes, a per-channel vector, a scalar, a trailing [H, W, C] block, each operand order; the last
  // pairs are broadcasts the native kernel leaves to WASM.
  const pairs: [number[], number[]][] = [
    [[2, 5, 7, 3], [2, 5, 7, 3]], [[2, 5, 7, 3], [3]], [[3], [2, 5, 7, 3]], [[2, 5, 7, 3], []], [[], [2, 5, 7, 3]],
    [[2, 5, 7, 3], [5, 7, 3]], [[2, 5, 7, 3], [1, 1, 1, 3]], [[64, 32, 32], [32]], [[2, 5, 7, 3], [2, 1, 1, 3]], [[4, 1], [1, 6]],
  ];
  for (const kernel of ['Add', 'Multiply', 'Sub']) {
    test(`${kernel} with broadcasts`, async () => {
      const rng = new Rng(kernel.length);
      for (const [as, bs] of pairs) await againstCpu(kernel, { a: randn(rng, as), b: randn(rng, bs) }, {});
    });
  }
});

/** Gradients of `loss` w.r.t. the model's parameters, by parameter name, as arrays. */
function gradsOf(model: Module, loss: () => tf.Scalar): Map<string, Float32Array> {
  const vars = model.namedParameters();
  const { value, grads } = tf.variableGrads(loss, vars.map(([, v]) => v));
  const out = new Map<string, Float32Array>();
  for (const [name, v] of vars) out.set(name, grads[v.name].dataSync().slice() as Float32Array);
  tf.dispose([value, ...Object.values(grads)]);
  return out;
}

function classifierLoss(model: Module & { forward(x: tf.Tensor, ctx: { training: boolean }): tf.Tensor }, x: tf.Tensor, y: tf.Tensor) {
  return () => tf.losses.softmaxCrossEntropy(y, model.forward(x, { training: true })) as tf.Scalar;
}

describe('whole training steps: gradients native vs WASM', { skip: missing }, () => {
  const nets: [string, () => { model: Module; loss: () => tf.Scalar; dispose: () => void }][] = [
    ['ResNet-20', () => {
      const rng = new Rng(1);
      const model = createClassifier({ arch: 'resnet20', numClasses: 4, inputShape: [16, 16, 3], options: { width: 8 } }, 3);
      const x = tf.tensor(randn(rng, [4, 16, 16, 3]).values, [4, 16, 16, 3]);
      const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3], 'int32'), 4);
      return { model, loss: classifierLoss(model, x, y), dispose: () => tf.dispose([x, y]) };
    }],
    ['ViT', () => {
      const rng = new Rng(2);
      const model = createClassifier({ arch: 'vit', numClasses: 4, inputShape: [16, 16, 3], options: { patch: 4, dim: 24, depth: 2, heads: 2 } }, 3);
      const x = tf.tensor(randn(rng, [4, 16, 16, 3]).values, [4, 16, 16, 3]);
      const y = tf.oneHot(tf.tensor1d([3, 2, 1, 0], 'int32'), 4);
      return { model, loss: classifierLoss(model, x, y), dispose: () => tf.dispose([x, y]) };
    }],
    ['U-Net', () => {
      const config = { ...defaultUNetConfig, imageSize: 8, inChannels: 1, numClasses: 3, baseChannels: 16, channelMult: [1, 2], numResBlocks: 1,
        attentionHeads: 2, dropout: 0, groups: 8 };
      const model = new UNet(config, 3);
      const schedule = makeSchedule('linear', 100);
      const rng = new Rng(4);
      const x0 = tf.tensor(randn(rng, [4, 8, 8, 1]).values, [4, 8, 8, 1]);
      const draw = drawTrainingNoise([4, 8, 8, 1], [0, 1, 2, 0], { schedule, numClasses: 3, pUncond: 0.25 }, rng);
      return { model, loss: () => noisePredictionLoss(model, x0, draw, schedule), dispose: () => x0.dispose() };
    }],
  ];
  for (const [name, make] of nets) {
    test(name, async () => {
      const { model, loss, dispose } = make();
      await initBackend('wasm');
      const ref = gradsOf(model, loss);
      await initBackend('native');
      const got = gradsOf(model, loss);
      for (const [param, g] of ref) {
        const err = relErr(got.get(param)!, g);
        assert.ok(err <= 1e-3, `${name} ${param}: relative error ${err}`);
      }
      model.dispose();
      dispose();
    });
  }
});

describe('threads, leaks, determinism', { skip: missing }, () => {
  test('1 and 2 threads give the same convolutions and products to 1e-5', async () => {
    await initBackend('native');
    const rng = new Rng(9);
    const x = tf.tensor(randn(rng, [8, 12, 12, 16]).values, [8, 12, 12, 16]);
    const w = tf.tensor(randn(rng, [3, 3, 16, 24]).values, [3, 3, 16, 24]);
    const m = tf.tensor(randn(rng, [200, 150]).values, [200, 150]);
    const run = () => {
      const y = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, 'same');
      const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same').square().sum())([x, w]);
      const p = tf.matMul(m, m, true, false);
      const out = [y, dx, dw, p].map((t) => t.dataSync().slice() as Float32Array);
      tf.dispose([y, dx, dw, p]);
      return out;
    };
    setNativeThreads(1);
    const one = run();
    setNativeThreads(2);
    const two = run();
    setNativeThreads(nativeThreads());
    one.forEach((a, i) => assert.ok(relErr(two[i], a) <= 1e-5, `output ${i}: relative error ${relErr(two[i], a)}`));
    tf.dispose([x, w, m]);
  });

  /** A few SGD steps of a small ResNet-20 from `seed`; returns the final parameters. */
  function train(seed: number, steps: number, each?: () => void): Float32Array[] {
    const model = createClassifier({ arch: 'resnet20', numClasses: 4, inputShape: [12, 12, 3], options: { width: 8 } }, seed);
    const rng = new Rng(seed);
    const x = tf.tensor(randn(rng, [4, 12, 12, 3]).values, [4, 12, 12, 3]);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3], 'int32'), 4);
    const opt = tf.train.momentum(0.05, 0.9);
    const params = model.namedParameters().map(([, v]) => v);
    for (let i = 0; i < steps; i++) {
      const { value, grads } = tf.variableGrads(classifierLoss(model, x, y), params);
      opt.applyGradients(grads as Record<string, tf.Variable>);
      tf.dispose([value, ...Object.values(grads)]);
      each?.();
    }
    const out = params.map((p) => p.dataSync().slice() as Float32Array);
    opt.dispose();
    model.dispose();
    tf.dispose([x, y]);
    return out;
  }

  test('a seeded training run repeats exactly', async () => {
    await initBackend('native');
    const a = train(5, 3);
    const b = train(5, 3);
    a.forEach((p, i) => assert.deepEqual(b[i], p, `parameter ${i}`));
  });

  test('many steps leave tensors, heap bytes, cached primitives and resident memory where they were', async () => {
    await initBackend('native');
    clearNativeCache();
    const samples: { tensors: number; bytes: number; cached: number; rss: number }[] = [];
    let step = 0;
    train(6, 40, () => {
      step++;
      if (step === 10 || step === 40) {
        samples.push({ tensors: tf.memory().numTensors, bytes: tf.memory().numBytes, cached: nativeInfo().cached, rss: process.memoryUsage().rss });
      }
    });
    const [early, late] = samples;
    assert.equal(late.tensors, early.tensors);
    assert.equal(late.bytes, early.bytes);
    assert.equal(late.cached, early.cached);
    // 30 steps of this model move about 30 × 4 MB through the kernels; a leak of inputs or primitives shows.
    assert.ok(late.rss - early.rss < 32e6, `resident memory grew ${((late.rss - early.rss) / 1e6).toFixed(1)} MB over 30 steps`);
  });

  test('the native set registers over the WASM kernels and unregisters back to them', async () => {
    await initBackend('native');
    const native = nativeKernels.names.map((n) => tf.getKernel(n, 'wasm')!.kernelFunc);
    await initBackend('wasm');
    // Back to the WASM kernel, or none for the kernels only the native set has (the fused optimiser updates).
    nativeKernels.names.forEach((n, i) => assert.notEqual(tf.getKernel(n, 'wasm')?.kernelFunc, native[i], n));
    assert.equal(tf.getKernel('SynthaugAdamW', 'wasm'), undefined);
    await initBackend('native');
    nativeKernels.names.forEach((n, i) => assert.equal(tf.getKernel(n, 'wasm')!.kernelFunc, native[i], n));
  });
});

// The module system and basic layers, on the cpu backend, against direct loop formulas.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs'; // registers the gradient functions (tfjs-core alone has none)
import { Conv2d, BatchNorm, GroupNorm, LayerNorm, Linear, Sequential, Lambda } from '../src/nn/index.js';
import { weightNameMismatch } from '../src/nn/module.js';
import { Rng } from '../src/util/rng.js';
import { assertClose } from './helpers/close.js';
import { checkNormGradients, plainBatchNorm, plainGroupNorm, plainLayerNorm } from './helpers/norm.js';

before(async () => {
  await tf.setBackend('cpu');
});

test('Conv2d with symmetric padding and stride matches a direct convolution', () => {
  const rng = new Rng(1);
  const [B, H, W, C, O, K, S, P] = [2, 7, 6, 3, 4, 3, 2, 1];
  const conv = new Conv2d(C, O, K, rng, { stride: S, padding: P, bias: true });
  conv.bias!.assign(tf.tensor1d([0.1, -0.2, 0.3, 0.0]));
  const xv = Float32Array.from({ length: B * H * W * C }, () => rng.normal());
  const y = conv.forward(tf.tensor4d(xv, [B, H, W, C]));
  const Ho = Math.floor((H + 2 * P - K) / S) + 1;
  const Wo = Math.floor((W + 2 * P - K) / S) + 1;
  assert.deepEqual(y.shape, [B, Ho, Wo, O]);
  const w = conv.weight.dataSync();
  const bias = conv.bias!.dataSync();
  const expected: number[] = [];
  for (let b = 0; b < B; b++)
    for (let i = 0; i < Ho; i++)
      for (let j = 0; j < Wo; j++)
        for (let o = 0; o < O; o++) {
          let s = bias[o];
          for (let di = 0; di < K; di++)
            for (let dj = 0; dj < K; dj++) {
              const r = i * S - P + di;
              const c = j * S - P + dj;
              if (r < 0 || r >= H || c < 0 || c >= W) continue;
              for (let ci = 0; ci < C; ci++) s += xv[((b * H + r) * W + c) * C + ci] * w[((di * K + dj) * C + ci) * O + o];
            }
          expected.push(s);
        }
  assertClose(y.dataSync(), expected);
});

test('BatchNorm normalises with batch statistics in training and updates running stats as PyTorch does', () => {
  const bn = new BatchNorm(2, { momentum: 0.1 });
  const xv = [1, 10, 2, 20, 3, 30, 6, 40]; // [4, 1, 1, 2] → channel 0: 1,2,3,6; channel 1: 10,20,30,40
  const y = bn.forward(tf.tensor4d(xv, [4, 1, 1, 2]), { training: true }).dataSync();
  for (const c of [0, 1]) {
    const v = [0, 1, 2, 3].map((i) => xv[i * 2 + c]);
    const mean = v.reduce((a, b) => a + b) / 4;
    const varB = v.reduce((a, b) => a + (b - mean) ** 2, 0) / 4;
    assertClose([0, 1, 2, 3].map((i) => y[i * 2 + c]), v.map((x) => (x - mean) / Math.sqrt(varB + 1e-5)));
    assertClose([bn.runningMean.dataSync()[c]], [0.1 * mean]);
    assertClose([bn.runningVar.dataSync()[c]], [0.9 + 0.1 * ((varB * 4) / 3)]);
  }
  const yEval = bn.forward(tf.tensor4d(xv, [4, 1, 1, 2]), { training: false }).dataSync();
  const rm = bn.runningMean.dataSync();
  const rv = bn.runningVar.dataSync();
  assertClose([yEval[0]], [(1 - rm[0]) / Math.sqrt(rv[0] + 1e-5)]);
});

test('GroupNorm and LayerNorm match direct formulas', () => {
  const rng = new Rng(2);
  const [B, H, W, C, G] = [2, 3, 2, 4, 2];
  const xv = Float32Array.from({ length: B * H * W * C }, () => rng.normal() * 3 + 1);
  const gn = new GroupNorm(G, C);
  const y = gn.forward(tf.tensor4d(xv, [B, H, W, C])).dataSync();
  const expected = new Float32Array(xv.length);
  for (let b = 0; b < B; b++)
    for (let g = 0; g < G; g++) {
      const idx: number[] = [];
      for (let p = 0; p < H * W; p++) for (let c = g * (C / G); c < (g + 1) * (C / G); c++) idx.push((b * H * W + p) * C + c);
      const mean = idx.reduce((a, i) => a + xv[i], 0) / idx.length;
      const v = idx.reduce((a, i) => a + (xv[i] - mean) ** 2, 0) / idx.length;
      for (const i of idx) expected[i] = (xv[i] - mean) / Math.sqrt(v + 1e-5);
    }
  assertClose(y, expected);
  const ln = new LayerNorm(C);
  const z = ln.forward(tf.tensor2d(xv.slice(0, 2 * C), [2, C])).dataSync();
  for (let r = 0; r < 2; r++) {
    const row = Array.from(xv.slice(r * C, (r + 1) * C));
    const mean = row.reduce((a, b) => a + b) / C;
    const v = row.reduce((a, b) => a + (b - mean) ** 2, 0) / C;
    assertClose(Array.from(z.slice(r * C, (r + 1) * C)), row.map((x) => (x - mean) / Math.sqrt(v + 1e-6)));
  }
});

test('parameters are named by path, and loading checks names and shapes', () => {
  const rng = new Rng(3);
  const net = new Sequential([new Conv2d(1, 2, 3, rng), new BatchNorm(2), new Lambda(tf.relu), new Linear(2, 3, rng)]);
  assert.deepEqual(
    [...net.stateDict().keys()],
    ['0.weight', '1.weight', '1.bias', '3.weight', '3.bias', '1.running_mean', '1.running_var'],
  );
  assert.equal(net.numParameters(), 3 * 3 * 1 * 2 + 2 + 2 + 2 * 3 + 3);
  const copy = new Sequential([new Conv2d(1, 2, 3, new Rng(9)), new BatchNorm(2), new Lambda(tf.relu), new Linear(2, 3, new Rng(9))]);
  copy.loadStateDict(net.stateDict());
  assertClose(copy.stateDict().get('3.weight')!.dataSync(), net.stateDict().get('3.weight')!.dataSync(), 0);
  assert.throws(() => copy.loadStateDict({ '0.weight': tf.zeros([3, 3, 1, 2]) }), /missing \[1\.weight/);
  const wrong = new Map([...net.stateDict()].map(([k, v]) => [k, k === '3.bias' ? tf.zeros([4]) : v] as [string, tf.Tensor]));
  assert.throws(() => copy.loadStateDict(wrong), /3\.bias have shape \[4\]/);
});

test('the same seed builds the same weights', () => {
  const a = new Conv2d(3, 8, 3, new Rng(42)).weight.dataSync();
  const b = new Conv2d(3, 8, 3, new Rng(42)).weight.dataSync();
  const c = new Conv2d(3, 8, 3, new Rng(43)).weight.dataSync();
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

test('BatchNorm training-mode gradients equal autodiff of the plain formula', () => {
  checkNormGradients(new BatchNorm(3), plainBatchNorm, [4, 3, 5, 3], 11);
});

test('GroupNorm gradients equal autodiff of the plain formula', () => {
  checkNormGradients(new GroupNorm(3, 6), plainGroupNorm(3), [2, 3, 4, 6], 12);
});

test('LayerNorm gradients equal autodiff of the plain formula', () => {
  checkNormGradients(new LayerNorm(6), plainLayerNorm, [2, 5, 6], 13);
});

test('weightNameMismatch names what is missing and what is unexpected, five of each at most', () => {
  assert.equal(weightNameMismatch(['a', 'b'], ['b', 'a']), undefined);
  assert.equal(weightNameMismatch(['a', 'b', 'c'], ['b', 'x']), 'missing [a, c], unexpected [x]');
  const many = Array.from({ length: 7 }, (_, i) => `w${i}`);
  assert.equal(weightNameMismatch(many, []), 'missing [w0, w1, w2, w3, w4, … (7 in all)], unexpected []');
});

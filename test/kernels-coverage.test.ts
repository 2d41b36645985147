// Every op that training of the CIFAR/ImageNet ResNet, ViT, Inception-v3 and diffusion U-Net uses:
// its gradient must run on 'wasm' (no "kernel ... not registered") and agree with the cpu backend
// to relErr = max|a − b| / max(1, max|b|) ≤ 1e-4 for every input's gradient.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { Rng } from '../src/util/rng.js';
import { relErr } from './helpers/compare.js';

type Op = (...xs: tf.Tensor[]) => tf.Tensor;
const T = (shape: number[]) => shape;

/** name → [input shapes, op]; inputs are seeded normal noise. */
const ops: Record<string, [number[][], Op]> = {
  // CIFAR ResNet: conv, batchnorm, relu, global mean, dense, softmax cross-entropy
  'conv2d 3x3 same': [[T([2, 8, 8, 3]), T([3, 3, 3, 4])], (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same')],
  'conv2d 3x3 s2 same': [[T([2, 9, 9, 3]), T([3, 3, 3, 4])], (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, 'same')],
  'conv2d 1x1 s2 (shortcut)': [[T([2, 8, 8, 3]), T([1, 1, 3, 4])], (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, 'valid')],
  'fused conv2d + bias + relu': [[T([2, 8, 8, 3]), T([3, 3, 3, 4]), T([4])],
    (x, w, b) => tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, strides: 1, pad: 'same', bias: b, activation: 'relu' })],
  batchNorm: [[T([2, 4, 4, 3]), T([3]), T([3]), T([3]), T([3])],
    (x, m, v, o, s) => tf.batchNorm(x, m, tf.add(tf.square(v), 0.5), o, s, 1e-3)],
  'batch statistics (moments)': [[T([4, 3, 3, 5])], (x) => {
    const { mean, variance } = tf.moments(x, [0, 1, 2]);
    return tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5)));
  }],
  relu: [[T([4, 5])], (x) => tf.relu(x)],
  'global mean': [[T([2, 8, 8, 3])], (x) => tf.mean(x, [1, 2])],
  'dense (matMul)': [[T([4, 5]), T([5, 3])], (x, w) => tf.matMul(x, w)],
  'fused matMul + bias + relu': [[T([4, 5]), T([5, 3]), T([3])], (x, w, b) => tf.fused.matMul({ a: x, b: w, bias: b, activation: 'relu' })],
  'softmax cross-entropy': [[T([4, 5])], (x) => tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d([0, 1, 2, 4], 'int32'), 5), x)],
  // ImageNet ResNet
  'maxPool 3x3 s2 same': [[T([2, 9, 9, 3])], (x) => tf.maxPool(x as tf.Tensor4D, 3, 2, 'same')],
  'conv2d 7x7 s2 (stem)': [[T([1, 13, 13, 3]), T([7, 7, 3, 4])], (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, 'same')],
  // ViT
  batchMatMul: [[T([2, 4, 5]), T([2, 5, 3])], (a, b) => tf.matMul(a, b)],
  'batchMatMul transposeB (attention scores)': [[T([2, 4, 5]), T([2, 3, 5])], (a, b) => tf.matMul(a, b, false, true)],
  layerNorm: [[T([3, 4, 8]), T([8]), T([8])], (x, g, b) => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), g), b);
  }],
  'gelu (erf)': [[T([4, 5])], (x) => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1))],
  'gelu (tanh)': [[T([4, 5])], (x) =>
    tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI))), 1))],
  softmax: [[T([2, 3, 5]), T([2, 3, 5])], (x, y) => tf.mul(tf.softmax(x), y)],
  'gather (embedding)': [[T([10, 4])], (e) => tf.gather(e, tf.tensor1d([1, 3, 3, 7, 0], 'int32'))],
  'gather axis 1': [[T([3, 6, 2])], (e) => tf.gather(e, tf.tensor1d([5, 0, 5], 'int32'), 1)],
  'transpose + reshape (heads)': [[T([2, 3, 8])], (x) => tf.reshape(tf.transpose(tf.reshape(x, [2, 3, 2, 4]), [0, 2, 1, 3]), [4, 12])],
  'concat (class token)': [[T([2, 1, 4]), T([2, 5, 4])], (a, b) => tf.concat([a, b], 1)],
  'stridedSlice ::2 (ResNet option-A shortcut)': [[T([2, 7, 8, 3])], (x) => tf.stridedSlice(x, [0, 0, 0, 0], [2, 7, 8, 3], [1, 2, 2, 1])],
  'stridedSlice masks, offsets': [[T([3, 9, 5])], (x) => tf.stridedSlice(x, [1, 1, 0], [0, 8, 4], [1, 3, 1], 0b000, 0b001)],
  'slice (class token out)': [[T([2, 6, 4])], (x) => tf.slice(x, [0, 0, 0], [2, 1, 4])],
  // Inception-v3
  'avgPool 3x3 s1 same': [[T([2, 8, 8, 3])], (x) => tf.avgPool(x as tf.Tensor4D, 3, 1, 'same')],
  'avgPool 2x2 s2 valid': [[T([2, 9, 9, 3])], (x) => tf.avgPool(x as tf.Tensor4D, 2, 2, 'valid')],
  'maxPool 3x3 s2 valid': [[T([2, 9, 9, 3])], (x) => tf.maxPool(x as tf.Tensor4D, 3, 2, 'valid')],
  'conv2d 1x7': [[T([2, 9, 9, 3]), T([1, 7, 3, 4])], (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same')],
  'conv2d 7x1': [[T([2, 9, 9, 3]), T([7, 1, 3, 4])], (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same')],
  'concat channels': [[T([2, 3, 3, 2]), T([2, 3, 3, 4])], (a, b) => tf.concat([a, b], 3)],
  // diffusion U-Net
  'groupNorm (moments over groups)': [[T([2, 4, 4, 8]), T([8]), T([8])], (x, g, b) => {
    const xg = tf.reshape(x, [2, 4, 4, 2, 4]);
    const { mean, variance } = tf.moments(xg, [1, 2, 4], true);
    const y = tf.reshape(tf.mul(tf.sub(xg, mean), tf.rsqrt(tf.add(variance, 1e-5))), [2, 4, 4, 8]);
    return tf.add(tf.mul(y, g), b);
  }],
  silu: [[T([4, 5])], (x) => tf.mul(x, tf.sigmoid(x))],
  // resizeNearestNeighbor: tfjs's cpu ResizeNearestNeighborGrad is wrong with several channels and with
  // halfPixelCenters; checked below against the definition instead.
  'resizeBilinear 2x': [[T([2, 4, 4, 3])], (x) => tf.image.resizeBilinear(x as tf.Tensor4D, [8, 8])],
  'conv2dTranspose s2': [[T([2, 4, 4, 4]), T([3, 3, 3, 4])], (x, w) => tf.conv2dTranspose(x as tf.Tensor4D, w as tf.Tensor4D, [2, 8, 8, 3], 2, 'same')],
  'time embedding (sin, cos, concat)': [[T([4, 1]), T([1, 3])], (t, f) => tf.concat([tf.sin(tf.mul(t, f)), tf.cos(tf.mul(t, f))], 1)],
  'squared error (loss)': [[T([4, 5]), T([4, 5])], (a, b) => tf.mean(tf.squaredDifference(a, b))],
  'pad, split, stack': [[T([2, 6])], (x) => tf.stack(tf.split(tf.pad(x, [[1, 1], [2, 0]]), 2, 1))],
  'depthwiseConv2d': [[T([2, 8, 8, 3]), T([3, 3, 3, 2])], (x, w) => tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same')],
  'separableConv2d': [[T([2, 8, 8, 3]), T([3, 3, 3, 2]), T([1, 1, 6, 4])],
    (x, a, b) => tf.separableConv2d(x as tf.Tensor4D, a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same')],
};

/** Gradients of sum(op(...)·r) (r fixed noise, so every output element matters) on `backend`. */
async function gradsOn(backend: string, shapes: number[][], op: Op, seed: number): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const rng = new Rng(seed);
  const noise = (shape: number[]) => tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()), shape);
  return tf.tidy(() => {
    const inputs = shapes.map(noise);
    const probe = noise(op(...inputs).shape);
    const grads = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(op(...xs), probe)))(inputs);
    return grads.map((g) => g.dataSync() as Float32Array);
  });
}

before(async () => {
  await import('@tensorflow/tfjs-backend-cpu');
  await initBackend('wasm');
});

describe('gradients of the training ops on wasm vs cpu', () => {
  let seed = 1;
  for (const [name, [shapes, op]] of Object.entries(ops)) {
    const s = seed++;
    test(name, async () => {
      const ref = await gradsOn('cpu', shapes, op, s);
      const got = await gradsOn('wasm', shapes, op, s);
      assert.equal(got.length, ref.length);
      got.forEach((g, i) => {
        const err = relErr(g, ref[i]);
        assert.ok(err <= 1e-4, `input ${i}: relative error ${err}`);
      });
    });
  }
});

/** The definition: every dy pixel goes back to the source pixel the forward op copied (TensorFlow's rule). */
function nearestSource(r: number, inLen: number, outLen: number, alignCorners: boolean, halfPixel: boolean): number {
  const ratio = alignCorners && outLen > 1 ? (inLen - 1) / (outLen - 1) : inLen / outLen;
  const frac = halfPixel ? ratio * (r + 0.5) : ratio * r;
  const src = Math.min(inLen - 1, alignCorners ? Math.round(frac) : Math.floor(frac));
  return halfPixel ? Math.max(0, src) : src;
}

describe('resizeNearestNeighbor gradient on wasm vs the definition', () => {
  const cases: [number[], [number, number], boolean, boolean][] = [
    [[2, 4, 4, 3], [8, 8], false, false], // U-Net upsampling
    [[1, 5, 3, 2], [8, 7], false, false],
    [[1, 8, 6, 2], [5, 4], false, true],
    [[2, 5, 5, 3], [9, 9], true, false],
  ];
  for (const [shape, size, alignCorners, halfPixel] of cases) {
    test(`[${shape}] → ${size} alignCorners=${alignCorners} halfPixelCenters=${halfPixel}`, async () => {
      await tf.setBackend('wasm');
      const rng = new Rng(shape[1] * 7 + size[0]);
      const [N, H, W, C] = shape;
      const dy = Float32Array.from({ length: N * size[0] * size[1] * C }, () => rng.normal());
      const x = tf.zeros(shape);
      const dyT = tf.tensor(dy, [N, ...size, C]);
      const g = tf.grad((t) => tf.sum(tf.mul(tf.image.resizeNearestNeighbor(t as tf.Tensor4D, size, alignCorners, halfPixel), dyT)))(x);
      const ref = new Float32Array(N * H * W * C);
      for (let n = 0; n < N; n++) for (let r = 0; r < size[0]; r++) for (let q = 0; q < size[1]; q++) for (let c = 0; c < C; c++) {
        const i = nearestSource(r, H, size[0], alignCorners, halfPixel);
        const j = nearestSource(q, W, size[1], alignCorners, halfPixel);
        ref[((n * H + i) * W + j) * C + c] += dy[((n * size[0] + r) * size[1] + q) * C + c];
      }
      const err = relErr(g.dataSync(), ref);
      tf.dispose([x, dyT, g]);
      assert.ok(err <= 1e-4, `relative error ${err}`);
    });
  }
});

// synthaug's WASM gradient kernels against tfjs's pure-JS `cpu` backend (the reference), and, where
// the cpu kernels have no dilation attribute, against a direct loop over the convolution sum.
// Error measure: relErr(a, b) = max|a − b| / max(1, max|b|), b the reference; bound 1e-4.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { initBackend } from '../src/backend/index.js';
import { relErr } from './helpers/compare.js';
import { composed } from '../src/backend/wasm/compose.js';
import { conv2dFilterGrad, conv2dInputGrad, geometryOf } from '../src/backend/wasm/conv-backprop.js';
import { Rng } from '../src/util/rng.js';

const TOL = 1e-4;

function randn(rng: Rng, shape: number[]): { shape: number[]; values: Float32Array } {
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < values.length; i++) values[i] = rng.normal();
  return { shape, values };
}

/** Run one kernel on `backend` with float inputs; returns the output values and shape. */
async function runOn(backend: string, kernel: string, inputs: Record<string, { shape: number[]; values: Float32Array | Int32Array }>, attrs: object) {
  await tf.setBackend(backend);
  const ts = Object.fromEntries(
    Object.entries(inputs).map(([k, v]) => [k, tf.tensor(v.values, v.shape, v.values instanceof Int32Array ? 'int32' : 'float32')]),
  );
  const out = tf.engine().runKernel(kernel, ts, attrs as tf.NamedAttrMap) as tf.Tensor;
  const result = { shape: out.shape, values: out.dataSync().slice() };
  tf.dispose([out, ...Object.values(ts)]);
  return result;
}

type Pad = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];
interface ConvCase {
  x: number[]; // [N, H, W, Ci]
  k: [number, number];
  co: number;
  strides: [number, number];
  pad: Pad;
}

/** A seeded table of conv geometries: odd sizes, asymmetric kernels, stride > kernel, explicit pads. */
function convCases(seed: number, count: number): ConvCase[] {
  const rng = new Rng(seed);
  const fixed: ConvCase[] = [
    { x: [2, 8, 8, 3], k: [3, 3], co: 4, strides: [1, 1], pad: 'same' },
    { x: [2, 9, 9, 3], k: [3, 3], co: 4, strides: [2, 2], pad: 'same' }, // ResNet downsampling
    { x: [2, 9, 7, 3], k: [1, 7], co: 2, strides: [1, 1], pad: 'same' }, // Inception 1x7
    { x: [2, 7, 9, 3], k: [7, 1], co: 2, strides: [1, 1], pad: 'same' }, // Inception 7x1
    { x: [1, 11, 11, 2], k: [1, 1], co: 3, strides: [3, 3], pad: 'valid' }, // stride > kernel
    { x: [1, 10, 13, 2], k: [2, 2], co: 3, strides: [3, 3], pad: 'valid' }, // leftover rows and columns
    { x: [2, 13, 13, 3], k: [7, 7], co: 4, strides: [2, 2], pad: 'same' }, // ImageNet ResNet stem
    { x: [1, 6, 6, 2], k: [3, 3], co: 2, strides: [2, 1], pad: [[0, 0], [2, 0], [1, 2], [0, 0]] },
    // Batches and channels in fours take the SIMD layout kernels (layout.wat) of the filter gradient.
    { x: [4, 6, 5, 8], k: [3, 3], co: 8, strides: [1, 1], pad: 'same' },
    { x: [8, 9, 9, 4], k: [3, 3], co: 4, strides: [2, 2], pad: 'same' },
    { x: [4, 7, 7, 4], k: [2, 2], co: 4, strides: [2, 2], pad: 'valid' }, // rows and columns dropped
  ];
  const pads = (k: [number, number]): Pad => {
    const r = rng.int(3);
    if (r === 0) return 'same';
    if (r === 1) return 'valid';
    return [[0, 0], [rng.int(k[0]), rng.int(k[0])], [rng.int(k[1]), rng.int(k[1])], [0, 0]];
  };
  const random: ConvCase[] = [];
  while (random.length < count) {
    const k: [number, number] = [1 + rng.int(4), 1 + rng.int(4)];
    const x = [1 + rng.int(3), 1 + rng.int(12), 1 + rng.int(12), 1 + rng.int(5)];
    const c: ConvCase = { x, k, co: 1 + rng.int(5), strides: [1 + rng.int(3), 1 + rng.int(3)], pad: pads(k) };
    const info = tf.backend_util.computeConv2DInfo(x as never, [...k, x[3], c.co] as never, c.strides, 1, c.pad as never);
    if (info.outHeight > 0 && info.outWidth > 0) random.push(c);
  }
  return [...fixed, ...random];
}

function describeCase(c: ConvCase): string {
  return `x=[${c.x}] k=${c.k.join('x')} co=${c.co} s=${c.strides.join(',')} pad=${JSON.stringify(c.pad)}`;
}

before(async () => {
  await import('@tensorflow/tfjs-backend-cpu');
  const info = await initBackend('wasm');
  assert.equal(info.name, 'wasm');
});

describe('Conv2DBackpropFilter / Conv2DBackpropInput on wasm vs cpu', () => {
  for (const c of convCases(20230408, 24)) {
    test(describeCase(c), async () => {
      const rng = new Rng(c.x.reduce((a, b) => a * 31 + b, c.co));
      const filterShape = [...c.k, c.x[3], c.co];
      const info = tf.backend_util.computeConv2DInfo(c.x as never, filterShape as never, c.strides, 1, c.pad as never);
      const x = randn(rng, c.x);
      const w = randn(rng, filterShape);
      const dy = randn(rng, info.outShape);
      const common = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: undefined };
      for (const [kernel, inputs, attrs] of [
        ['Conv2DBackpropFilter', { x, dy }, { ...common, filterShape }],
        ['Conv2DBackpropInput', { dy, filter: w }, { ...common, inputShape: c.x }],
      ] as const) {
        const ref = await runOn('cpu', kernel, inputs, attrs);
        const got = await runOn('wasm', kernel, inputs, attrs);
        assert.deepEqual(got.shape, ref.shape, `${kernel} shape`);
        const err = relErr(got.values, ref.values);
        assert.ok(err <= TOL, `${kernel}: relative error ${err}`);
      }
    });
  }
});

type Data = { shape: number[]; values: Float32Array };

/**
 * Direct sums over the definition y[n,o,p,yc] = Σ x[n, o·sh + i·dh − pt, p·sw + j·dw − pl, xc] · w[i,j,wc] over
 * the channel triples (xc, wc, yc) of `pairs`, wc indexing w's last two axes flattened: a plain conv pairs
 * every input channel with every output channel, a depthwise conv each channel with its own multiplier slots.
 */
function directGrads(x: Data, w: Data, dy: Data, s: [number, number], d: [number, number], pt: number, pl: number,
  pairs: [number, number, number][]) {
  const [N, H, W, Cx] = x.shape;
  const [kh, kw] = w.shape;
  const Cw = w.values.length / (kh * kw);
  const [, Ho, Wo, Cy] = dy.shape;
  const dx = new Float32Array(x.values.length);
  const dw = new Float32Array(w.values.length);
  for (let n = 0; n < N; n++) for (let o = 0; o < Ho; o++) for (let p = 0; p < Wo; p++) for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) {
    const h = o * s[0] + i * d[0] - pt;
    const v = p * s[1] + j * d[1] - pl;
    if (h < 0 || h >= H || v < 0 || v >= W) continue;
    for (const [xc, wc, yc] of pairs) {
      const g = dy.values[((n * Ho + o) * Wo + p) * Cy + yc];
      const xi = ((n * H + h) * W + v) * Cx + xc;
      const wi = (i * kw + j) * Cw + wc;
      dx[xi] += g * w.values[wi];
      dw[wi] += g * x.values[xi];
    }
  }
  return { dx, dw };
}

/** Direct gradients of conv2d: w [kh, kw, Ci, Co]. */
function directConvGrads(x: Data, w: Data, dy: Data, s: [number, number], d: [number, number], pt: number, pl: number) {
  const [, , Ci, Co] = w.shape;
  const pairs: [number, number, number][] = [];
  for (let ci = 0; ci < Ci; ci++) for (let co = 0; co < Co; co++) pairs.push([ci, ci * Co + co, co]);
  return directGrads(x, w, dy, s, d, pt, pl, pairs);
}

describe('dilated conv gradients on wasm vs direct sums', () => {
  const cases: { x: number[]; k: [number, number]; co: number; s: [number, number]; d: [number, number]; pad: Pad }[] = [
    { x: [2, 9, 9, 3], k: [3, 3], co: 2, s: [1, 1], d: [2, 2], pad: 'same' },
    { x: [1, 12, 10, 2], k: [3, 2], co: 3, s: [1, 1], d: [3, 2], pad: 'valid' },
    { x: [2, 11, 11, 2], k: [3, 3], co: 2, s: [2, 2], d: [2, 2], pad: [[0, 0], [1, 2], [2, 1], [0, 0]] },
  ];
  for (const c of cases) {
    test(`x=[${c.x}] k=${c.k.join('x')} s=${c.s} d=${c.d} pad=${JSON.stringify(c.pad)}`, async () => {
      await tf.setBackend('wasm');
      const rng = new Rng(7 + c.x[1]);
      const filterShape = [...c.k, c.x[3], c.co];
      const info = tf.backend_util.computeConv2DInfo(c.x as never, filterShape as never, c.s, c.d, c.pad as never);
      const x = randn(rng, c.x);
      const w = randn(rng, filterShape);
      const dy = randn(rng, info.outShape);
      const ref = directConvGrads(x, w, dy, c.s, c.d, info.padInfo.top, info.padInfo.left);
      const backend = tf.backend() as BackendWasm;
      const [xt, wt, dyt] = [x, w, dy].map((a) => tf.tensor(a.values, a.shape));
      const g = geometryOf(info);
      const before = backend.numDataIds();
      const dwInfo = composed(backend, (s) => conv2dFilterGrad(s, xt, dyt, g));
      const dxInfo = composed(backend, (s) => conv2dInputGrad(s, dyt, wt, g));
      assert.equal(backend.numDataIds(), before + 2, 'composition leaves only its two outputs');
      const dwGot = backend.readSync(dwInfo.dataId) as Float32Array;
      const dxGot = backend.readSync(dxInfo.dataId) as Float32Array;
      assert.deepEqual(dwInfo.shape, filterShape);
      assert.deepEqual(dxInfo.shape, c.x);
      assert.ok(relErr(dwGot, ref.dw) <= TOL, `filter grad: ${relErr(dwGot, ref.dw)}`);
      assert.ok(relErr(dxGot, ref.dx) <= TOL, `input grad: ${relErr(dxGot, ref.dx)}`);
      backend.disposeData(dwInfo.dataId);
      backend.disposeData(dxInfo.dataId);
      tf.dispose([xt, wt, dyt]);
    });
  }
});

/** Direct gradients of a depthwise conv y[n,o,p,c·m+k]: w [kh, kw, C, m]. */
function directDepthwiseGrads(x: Data, w: Data, dy: Data, s: [number, number], d: [number, number], pt: number, pl: number) {
  const [, , C, M] = w.shape;
  const pairs: [number, number, number][] = [];
  for (let c = 0; c < C; c++) for (let k = 0; k < M; k++) pairs.push([c, c * M + k, c * M + k]);
  return directGrads(x, w, dy, s, d, pt, pl, pairs);
}

describe('depthwise conv gradients on wasm vs cpu and direct sums', () => {
  const cases: { x: number[]; k: [number, number]; m: number; s: [number, number]; d: [number, number]; pad: Pad }[] = [
    { x: [2, 8, 8, 3], k: [3, 3], m: 1, s: [1, 1], d: [1, 1], pad: 'same' },
    { x: [2, 9, 9, 3], k: [3, 3], m: 2, s: [2, 2], d: [1, 1], pad: 'same' },
    { x: [1, 10, 11, 2], k: [5, 3], m: 1, s: [3, 3], d: [1, 1], pad: 'valid' },
    { x: [1, 9, 9, 2], k: [3, 3], m: 3, s: [1, 1], d: [2, 2], pad: 'valid' },
    { x: [2, 7, 7, 4], k: [3, 3], m: 1, s: [1, 1], d: [1, 1], pad: [[0, 0], [2, 1], [0, 2], [0, 0]] },
  ];
  for (const c of cases) {
    test(`x=[${c.x}] k=${c.k.join('x')} m=${c.m} s=${c.s} d=${c.d} pad=${JSON.stringify(c.pad)}`, async () => {
      const rng = new Rng(11 + c.x[2]);
      const filterShape = [...c.k, c.x[3], c.m];
      const info = tf.backend_util.computeConv2DInfo(c.x as never, filterShape as never, c.s, c.d, c.pad as never, undefined, true);
      const x = randn(rng, c.x);
      const w = randn(rng, filterShape);
      const dy = randn(rng, info.outShape);
      const common = { strides: c.s, dilations: c.d, pad: c.pad, dimRoundingMode: undefined };
      // tfjs's cpu DepthwiseConv2dNativeBackpropFilter ignores dilations: dilated cases use direct sums.
      const direct = directDepthwiseGrads(x, w, dy, c.s, c.d, info.padInfo.top, info.padInfo.left);
      for (const [kernel, inputs, attrs, directRef] of [
        ['DepthwiseConv2dNativeBackpropFilter', { x, dy }, { ...common, filterShape }, direct.dw],
        ['DepthwiseConv2dNativeBackpropInput', { dy, filter: w }, { ...common, inputShape: c.x }, direct.dx],
      ] as const) {
        const ref = c.d[0] > 1 || c.d[1] > 1 ? { values: directRef } : await runOn('cpu', kernel, inputs, attrs);
        const got = await runOn('wasm', kernel, inputs, attrs);
        assert.equal(got.values.length, ref.values.length, `${kernel} size`);
        const err = relErr(got.values, ref.values);
        assert.ok(err <= TOL, `${kernel}: relative error ${err}`);
        assert.ok(relErr(got.values, directRef) <= TOL, `${kernel} vs direct sums: ${relErr(got.values, directRef)}`);
      }
    });
  }
});

describe('UnsortedSegmentSum on wasm vs cpu', () => {
  const cases = [
    { x: [6, 4], ids: [1, 3, 3, 0, 5, 1], n: 7 },
    { x: [5, 2, 3], ids: [4, 4, 4, 0, 2], n: 5 },
    { x: [4, 3], ids: [0, -1, 9, 1], n: 2 }, // out-of-range ids are dropped
  ];
  for (const c of cases) {
    test(`x=[${c.x}] numSegments=${c.n}`, async () => {
      const x = randn(new Rng(c.n), c.x);
      const inputs = { x, segmentIds: { shape: [c.ids.length], values: Int32Array.from(c.ids) } };
      const ref = await runOn('cpu', 'UnsortedSegmentSum', inputs, { numSegments: c.n });
      const got = await runOn('wasm', 'UnsortedSegmentSum', inputs, { numSegments: c.n });
      assert.deepEqual(got.shape, ref.shape);
      assert.ok(relErr(got.values, ref.values) <= TOL, `relative error ${relErr(got.values, ref.values)}`);
    });
  }
});

describe('BatchMatMul with transposed operands on wasm vs cpu', () => {
  const cases = [
    { a: [5, 3], b: [5, 4], tA: true, tB: false }, // a linear layer's weight gradient xᵀ·dy
    { a: [3, 5], b: [4, 5], tA: false, tB: true }, // attention scores q·kᵀ
    { a: [5, 3], b: [4, 5], tA: true, tB: true },
    { a: [2, 6, 3], b: [2, 6, 4], tA: true, tB: false },
    { a: [2, 3, 7, 5], b: [2, 3, 4, 5], tA: false, tB: true },
    { a: [1, 6, 3], b: [3, 6, 2], tA: true, tB: false }, // broadcast batch
    { a: [4, 3], b: [3, 2], tA: false, tB: false },
  ];
  for (const c of cases) {
    test(`a=[${c.a}]${c.tA ? 'ᵀ' : ''} b=[${c.b}]${c.tB ? 'ᵀ' : ''}`, async () => {
      const rng = new Rng(c.a.length * 10 + c.b[0]);
      const inputs = { a: randn(rng, c.a), b: randn(rng, c.b) };
      const attrs = { transposeA: c.tA, transposeB: c.tB };
      const ref = await runOn('cpu', 'BatchMatMul', inputs, attrs);
      const got = await runOn('wasm', 'BatchMatMul', inputs, attrs);
      assert.deepEqual(got.shape, ref.shape);
      assert.ok(relErr(got.values, ref.values) <= TOL, `relative error ${relErr(got.values, ref.values)}`);
    });
  }
});

describe('MaxPoolGrad on wasm vs the definition', () => {
  // The first maximal element of each window (row-major) receives the window's dy.
  function direct(x: Float32Array, dy: Float32Array, shape: number[], k: number, s: number, info: tf.backend_util.Conv2DInfo) {
    const [N, H, W, C] = shape;
    const dx = new Float32Array(x.length);
    for (let n = 0; n < N; n++) for (let r = 0; r < info.outHeight; r++) for (let q = 0; q < info.outWidth; q++) for (let c = 0; c < C; c++) {
      let best = -Infinity;
      let at = -1;
      for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) {
        const h = r * s + i - info.padInfo.top;
        const v = q * s + j - info.padInfo.left;
        if (h < 0 || h >= H || v < 0 || v >= W) continue;
        const idx = ((n * H + h) * W + v) * C + c;
        if (x[idx] > best) [best, at] = [x[idx], idx];
      }
      dx[at] += dy[((n * info.outHeight + r) * info.outWidth + q) * C + c];
    }
    return dx;
  }
  const cases: [number[], number, number, 'same' | 'valid'][] = [
    [[1, 5, 5, 1], 3, 2, 'same'], // the case tfjs-backend-wasm's own MaxPoolGrad gets wrong
    [[2, 9, 9, 3], 3, 2, 'valid'],
    [[2, 8, 7, 4], 3, 2, 'same'],
    [[1, 6, 6, 2], 2, 2, 'valid'],
    [[1, 7, 7, 3], 3, 1, 'same'],
  ];
  for (const [shape, k, stride, pad] of cases) {
    test(`[${shape}] ${k}x${k} s${stride} ${pad}`, async () => {
      await tf.setBackend('wasm');
      const info = tf.backend_util.computePool2DInfo(shape as never, k, stride, 1, pad);
      const rng = new Rng(shape[1] + 100 * k);
      const x = randn(rng, shape);
      const dy = randn(rng, info.outShape);
      const ref = direct(x.values, dy.values, shape, k, stride, info);
      const xt = tf.tensor(x.values, shape);
      const y = tf.maxPool(xt as tf.Tensor4D, k, stride, pad);
      const dyt = tf.tensor(dy.values, info.outShape);
      const got = tf.engine().runKernel('MaxPoolGrad', { dy: dyt, input: xt, output: y }, { filterSize: k, strides: stride, pad }) as tf.Tensor;
      const err = relErr(got.dataSync(), ref);
      tf.dispose([xt, y, dyt, got]);
      assert.ok(err <= TOL, `relative error ${err}`);
    });
  }
});

describe('StridedSlice gradient vs the definition', () => {
  // Reference: slice a tensor of flat indices with the forward op; dx[idx] += dy at each position.
  // (float32 indices: tfjs-backend-wasm's StridedSlice returns an int32 input's bits typed as float32.)
  // No shrinkAxisMask case: tfjs 4.22's forward StridedSlice (cpu and wasm alike) then walks the wrong
  // axis (x[1, 2:8:3, :] of a [3,9,5] range gives 47,50,53,... instead of 55,56,57,...).
  const cases: [number[], number[], number[], number[], number, number, number][] = [
    [[2, 7, 8, 3], [0, 0, 0, 0], [2, 7, 8, 3], [1, 2, 2, 1], 0, 0, 0], // x[:, ::2, ::2, :]
    [[3, 9, 5], [1, 1, 0], [0, 8, 4], [1, 3, 1], 0b000, 0b001, 0], // end mask, offsets
    [[10], [2], [9], [4], 0, 0, 0], // stride > remaining length
    [[4, 6], [1, 5], [3, 0], [1, 5], 0, 0b10, 0], // stride past the end
  ];
  for (const [shape, begin, end, strides, beginMask, endMask, shrinkMask] of cases) {
    test(`[${shape}] begin=${begin} end=${end} strides=${strides}`, async () => {
      await tf.setBackend('wasm');
      const size = shape.reduce((a, b) => a * b, 1);
      const slice = (t: tf.Tensor) => tf.stridedSlice(t, begin, end, strides, beginMask, endMask, 0, 0, shrinkMask);
      const where = slice(tf.range(0, size, 1, 'float32').reshape(shape)).dataSync();
      const rng = new Rng(size);
      const dy = Float32Array.from({ length: where.length }, () => rng.normal());
      const ref = new Float32Array(size);
      where.forEach((idx, k) => (ref[idx] += dy[k]));
      const x = tf.zeros(shape);
      const probe = tf.tensor(dy, slice(x).shape);
      const g = tf.grad((t) => tf.sum(tf.mul(slice(t), probe)))(x);
      assert.deepEqual(g.shape, shape);
      assert.ok(relErr(g.dataSync(), ref) <= TOL, `relative error ${relErr(g.dataSync(), ref)}`);
      tf.dispose([x, probe, g]);
    });
  }
});

describe('Identity on wasm shares its input buffer', () => {
  test('a clone reads the same values and buffer and outlives its source', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    const y = tf.clone(x);
    assert.equal(y.dataId, x.dataId);
    x.dispose();
    assert.deepEqual(Array.from(y.dataSync()), [1, 2, 3, 4, 5, 6]);
    const z = tf.add(y, 1);
    assert.deepEqual(Array.from(z.dataSync()), [2, 3, 4, 5, 6, 7]);
    tf.dispose([y, z]);
  });
});

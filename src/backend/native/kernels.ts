// oneDNN kernels registered over the WASM backend: the convolutions (forward, fused forward and both
// gradients) and the matrix products run in native code, and so do the memory-bound passes a training step
// spends most of its remaining time in (the norm layers' per-channel kernels, ReLU, the optimiser's and the
// moving average's updates), on all cores (dnnl_kernels.cc, built by build.mjs when oneDNN is installed)
// on tfjs's WASM memory in place — the addon receives the memory and byte offsets of the
// tensors, reads the inputs and writes the output tensor tfjs allocated. Every other kernel stays WASM.
// A case a native kernel does not cover (NCHW, int32, PReLU, a bias that is not one value per output
// channel) runs the kernel it replaced.
//
// Threads: oneDNN runs on OpenMP, one thread per core (SYNTHAUG_NATIVE_THREADS overrides). The WASM
// thread pool is idle while a native kernel runs and the reverse; OpenMP's threads are made to sleep, not
// spin, between kernels (OMP_WAIT_POLICY=passive unless set), so they leave the cores to the WASM pool.
import { createRequire } from 'node:module';
import os from 'node:os';
import {
  backend_util,
  getKernel,
  slice_util,
  registerKernel,
  unregisterKernel,
  util,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { KernelSet } from '../kernel-set.js';
import { heapOffset, memoryOf } from '../wasm/simd.js';
import { channelKernelsOn, type ChannelPasses } from '../wasm/channels.js';

type Args = { inputs: Record<string, TensorInfo | undefined>; attrs: Record<string, unknown>; backend: BackendWasm };
type Shape4 = [number, number, number, number];

export interface NativeInfo {
  version: string;
  /** The instruction set oneDNN's kernels use on this CPU (e.g. AVX2, AVX-512). */
  isa: string;
  threads: number;
  /** Primitives in the addon's cache. */
  cached: number;
}

interface Addon {
  convForward(heap: Uint8Array, g: Int32Array, layout: number, act: number, leaky: number, x: number, w: number, bias: number, y: number): void;
  convBackwardData(heap: Uint8Array, g: Int32Array, layout: number, dy: number, w: number, dx: number): void;
  convBackwardWeights(heap: Uint8Array, g: Int32Array, layout: number, x: number, dy: number, dw: number): void;
  gemm(heap: Uint8Array, batch: number, M: number, N: number, K: number, ta: number, tb: number, a: number, sa: number, b: number, sb: number,
    c: number, bias: number, act: number, leaky: number): void;
  channelStats(heap: Uint8Array, u: number, v: number, m: number, images: number, rows: number, C: number, mPerImage: number, out: Float64Array): void;
  channelAffine(heap: Uint8Array, u: number, v: number, out: number, images: number, rows: number, C: number, a: number, b: number, d: number,
    perImage: number): void;
  relu(heap: Uint8Array, x: number, y: number, n: number): void;
  silu(heap: Uint8Array, x: number, y: number, n: number): void;
  siluGrad(heap: Uint8Array, x: number, dy: number, dx: number, n: number): void;
  strided(heap: Uint8Array, src: number, srcStride: number, dst: number, dstStride: number, rows: number, len: number): void;
  transpose(heap: Uint8Array, x: number, y: number, dims: Int32Array): void;
  binary(heap: Uint8Array, op: number, a: number, b: number, out: number, n: number, period: number): void;
  adamw(heap: Uint8Array, p: number, g: number, m: number, v: number, pOut: number, mOut: number, vOut: number, n: number, scale: number,
    beta1: number, beta2: number, c1: number, c2: number, eps: number, lr: number, keep: number): void;
  sgd(heap: Uint8Array, p: number, g: number, buf: number, pOut: number, bufOut: number, n: number, scale: number, weightDecay: number,
    momentum: number, nesterov: number, lr: number): void;
  ema(heap: Uint8Array, s: number, p: number, sOut: number, n: number, decay: number): void;
  setThreads(n: number): void;
  clearCache(): void;
  info(): NativeInfo;
}

export const NATIVE_REMEDY = 'apt-get install libdnnl-dev g++ make, then npm run build';

let addon: Addon | undefined;

/** The addon, loaded once; throws saying why and how to get it where it is not built or does not load. */
export function loadAddon(): Addon {
  if (addon !== undefined) return addon;
  // libgomp reads its settings when it is loaded, with the addon.
  process.env.OMP_WAIT_POLICY ??= 'passive';
  const require = createRequire(import.meta.url);
  let loaded: Addon;
  try {
    loaded = require('./synthaug_dnnl.node') as Addon;
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' ? 'the oneDNN addon is not built' : `the oneDNN addon does not load (${firstLine(err)})`;
    throw new Error(`${why}; to get it: ${NATIVE_REMEDY}`);
  }
  loaded.setThreads(nativeThreads());
  addon = loaded;
  return loaded;
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}

/** oneDNN's threads: SYNTHAUG_NATIVE_THREADS, else one per core. */
export function nativeThreads(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.SYNTHAUG_NATIVE_THREADS;
  if (v === undefined || v === '') return os.availableParallelism();
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`SYNTHAUG_NATIVE_THREADS must be a positive integer, not ${JSON.stringify(v)}`);
  return n;
}

/** Set oneDNN's thread count (tests compare 1 and 2). */
export function setNativeThreads(n: number): void {
  loadAddon().setThreads(n);
}

export function nativeInfo(): NativeInfo {
  return loadAddon().info();
}

/** Drop the addon's cached primitives (tests check that the cache stays bounded). */
export function clearNativeCache(): void {
  loadAddon().clearCache();
}

let heapView: Uint8Array | undefined;

/** A byte view of the backend's memory (renewed when the memory grows and its buffer is replaced). */
function heap(backend: BackendWasm): Uint8Array {
  const buffer = memoryOf(backend).buffer;
  if (heapView === undefined || heapView.buffer !== buffer) heapView = new Uint8Array(buffer);
  return heapView;
}

// Memory formats: PLAIN runs oneDNN on the NHWC / HWIO tensors as they are; BLOCKED lets each primitive
// pick its format (nChw8c on AVX2, nChw16c on AVX-512) and reorders into and out of it around the call.
const PLAIN = 0;
const BLOCKED = 1;

/** Layout per convolution kind; SYNTHAUG_NATIVE_LAYOUT=plain|blocked overrides (for benchmarks). */
function layoutFor(): number {
  const v = process.env.SYNTHAUG_NATIVE_LAYOUT;
  if (v === 'plain') return PLAIN;
  return BLOCKED;
}

const ACTIVATIONS: Record<string, number> = { linear: 0, relu: 1, relu6: 2, elu: 3, leakyrelu: 4, sigmoid: 5 };

function geometry(info: backend_util.Conv2DInfo): Int32Array {
  const p = info.padInfo;
  return Int32Array.of(info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth, info.outChannels,
    info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth,
    p.top, p.left, p.bottom, p.right);
}

/** Run `write` (a native call filling `out`); frees `out` if it throws. */
function filled(backend: BackendWasm, out: TensorInfo, write: () => void): TensorInfo {
  try {
    write();
  } catch (err) {
    backend.disposeData(out.dataId);
    throw err;
  }
  return out;
}

function nhwc(dataFormat: unknown): boolean {
  return dataFormat === undefined || dataFormat === 'NHWC';
}

function allFloat(...ts: (TensorInfo | undefined)[]): boolean {
  return ts.every((t) => t === undefined || (t.dtype === 'float32' && util.sizeFromShape(t.shape) > 0));
}

function convInfo(xShape: number[], filterShape: number[], attrs: Record<string, unknown>): backend_util.Conv2DInfo {
  return backend_util.computeConv2DInfo(xShape as Shape4, filterShape as Shape4, attrs.strides as [number, number],
    (attrs.dilations ?? 1) as [number, number], attrs.pad as never, attrs.dimRoundingMode as never, false, 'channelsLast');
}

/** Conv2D and FusedConv2D (bias [outC], activation other than PReLU). */
function conv2d(args: Args, fused: boolean): TensorInfo | null {
  const { inputs, attrs, backend } = args;
  const { x, filter, bias, preluActivationWeights } = inputs;
  const activation = fused ? ((attrs.activation as string | undefined) ?? 'linear') : 'linear';
  if (!nhwc(attrs.dataFormat) || !allFloat(x, filter, bias) || preluActivationWeights !== undefined || !(activation in ACTIVATIONS)) return null;
  const info = convInfo(x!.shape, filter!.shape, attrs);
  if (bias !== undefined && util.sizeFromShape(bias.shape) !== info.outChannels) return null;
  const out = backend.makeOutput(info.outShape, 'float32');
  const b = bias === undefined ? -1 : heapOffset(backend, bias);
  return filled(backend, out, () => loadAddon().convForward(heap(backend), geometry(info), layoutFor(), ACTIVATIONS[activation],
    Number(attrs.leakyreluAlpha ?? 0.2), heapOffset(backend, x!), heapOffset(backend, filter!), b, heapOffset(backend, out)));
}

function conv2dBackpropInput({ inputs, attrs, backend }: Args): TensorInfo | null {
  const { dy, filter } = inputs;
  if (!nhwc(attrs.dataFormat) || !allFloat(dy, filter)) return null;
  const info = convInfo(attrs.inputShape as number[], filter!.shape, attrs);
  const out = backend.makeOutput(info.inShape, 'float32');
  return filled(backend, out, () => loadAddon().convBackwardData(heap(backend), geometry(info), layoutFor(), heapOffset(backend, dy!),
    heapOffset(backend, filter!), heapOffset(backend, out)));
}

function conv2dBackpropFilter({ inputs, attrs, backend }: Args): TensorInfo | null {
  const { x, dy } = inputs;
  if (!nhwc(attrs.dataFormat) || !allFloat(x, dy)) return null;
  const filterShape = attrs.filterShape as number[];
  const info = convInfo(x!.shape, filterShape, attrs);
  const out = backend.makeOutput(filterShape, 'float32');
  return filled(backend, out, () => loadAddon().convBackwardWeights(heap(backend), geometry(info), layoutFor(), heapOffset(backend, x!),
    heapOffset(backend, dy!), heapOffset(backend, out)));
}

/**
 * BatchMatMul and _FusedMatMul: a [...batch, M, K] (or [..., K, M] with transposeA) times b [...batch, K, N]
 * (or [..., N, K]), one side's batch broadcast when it is 1; bias of N values added to every row.
 */
function matMul({ inputs, attrs, backend }: Args): TensorInfo | null {
  const { a, b, bias, preluActivationWeights } = inputs;
  const activation = (attrs.activation as string | undefined) ?? 'linear';
  if (!allFloat(a, b, bias) || preluActivationWeights !== undefined || !(activation in ACTIVATIONS)) return null;
  if (a!.shape.length < 2 || b!.shape.length < 2) return null;
  const ta = attrs.transposeA === true;
  const tb = attrs.transposeB === true;
  const [ar, br] = [a!.shape.length, b!.shape.length];
  const M = ta ? a!.shape[ar - 1] : a!.shape[ar - 2];
  const K = ta ? a!.shape[ar - 2] : a!.shape[ar - 1];
  const N = tb ? b!.shape[br - 2] : b!.shape[br - 1];
  if ((tb ? b!.shape[br - 1] : b!.shape[br - 2]) !== K) return null;
  const aOuter = a!.shape.slice(0, -2);
  const bOuter = b!.shape.slice(0, -2);
  const [batchA, batchB] = [util.sizeFromShape(aOuter), util.sizeFromShape(bOuter)];
  const outer = backend_util.assertAndGetBroadcastShape(aOuter, bOuter);
  const batch = util.sizeFromShape(outer);
  // One side broadcast whole, or both the same batch: anything else (partial broadcasts) stays WASM.
  if (!(batchA === batch || batchA === 1) || !(batchB === batch || batchB === 1)) return null;
  if (batchA === batch && batchB === batch && !util.arraysEqual(aOuter, bOuter) && batch > 1) return null;
  if (bias !== undefined && (util.sizeFromShape(bias.shape) !== N || bias.shape[bias.shape.length - 1] !== N)) return null;
  const out = backend.makeOutput([...outer, M, N], 'float32');
  return filled(backend, out, () => loadAddon().gemm(heap(backend), batch, M, N, K, ta ? 1 : 0, tb ? 1 : 0, heapOffset(backend, a!),
    batchA === 1 ? 0 : M * K, heapOffset(backend, b!), batchB === 1 ? 0 : K * N, heapOffset(backend, out),
    bias === undefined ? -1 : heapOffset(backend, bias), ACTIVATIONS[activation], Number(attrs.leakyreluAlpha ?? 0.2)));
}

/** The norm layers' channel passes (see wasm/channels.ts), one multi-threaded native call each. */
const nativePasses: ChannelPasses = {
  reduce(backend, images, u, v, m) {
    const C = u.shape[u.shape.length - 1];
    const rows = util.sizeFromShape(u.shape) / C / images;
    const sums = new Float64Array(2 * images * C);
    const mPerImage = m !== null && util.sizeFromShape(m.shape) !== C;
    loadAddon().channelStats(heap(backend), heapOffset(backend, u), v ? heapOffset(backend, v) : -1, m ? heapOffset(backend, m) : -1,
      images, rows, C, mPerImage ? 1 : 0, sums);
    return [sums.subarray(0, images * C), sums.subarray(images * C)];
  },
  affine(backend, out, images, perImage, u, a, d, v, b) {
    const C = u.shape[u.shape.length - 1];
    const rows = util.sizeFromShape(u.shape) / C / images;
    const two = v !== undefined && b !== undefined;
    loadAddon().channelAffine(heap(backend), heapOffset(backend, u), two ? heapOffset(backend, v) : -1, heapOffset(backend, out), images, rows,
      C, heapOffset(backend, a), two ? heapOffset(backend, b) : -1, heapOffset(backend, d), perImage ? 1 : 0);
  },
};

/** Relu, and SynthaugSilu x → x·σ(x) (src/nn/activations.ts): one pass over all cores. */
function unary(op: 'relu' | 'silu') {
  return ({ inputs: { x }, backend }: Args): TensorInfo | null => {
    if (!allFloat(x)) return null;
    const out = backend.makeOutput(x!.shape, 'float32');
    return filled(backend, out, () => loadAddon()[op](heap(backend), heapOffset(backend, x!), heapOffset(backend, out), util.sizeFromShape(x!.shape)));
  };
}

/** SynthaugSiluGrad (x, dy) → dy·σ(x)·(1 + x·(1 − σ(x))). */
function siluGrad({ inputs: { x, dy }, backend }: Args): TensorInfo | null {
  if (!allFloat(x, dy) || !util.arraysEqual(x!.shape, dy!.shape)) return null;
  const out = backend.makeOutput(x!.shape, 'float32');
  return filled(backend, out, () =>
    loadAddon().siluGrad(heap(backend), heapOffset(backend, x!), heapOffset(backend, dy!), heapOffset(backend, out), util.sizeFromShape(x!.shape)));
}

// ---- Data movement (float32; other dtypes, empty tensors and slices of more than one axis stay WASM) ----
// Slice, SplitV, Unpack and Concat are strided block copies along one axis; Transpose a permuted copy.

/** The product of shape[from, to). */
const extent = (shape: number[], from: number, to = shape.length) => util.sizeFromShape(shape.slice(from, to));

/**
 * Copy, along `axis`, the block [start, start + count) of each of the `rows` = extent(0, axis) rows of a tensor
 * whose axis has `length` entries, into (or, with gather false, out of) a packed tensor of `count` entries.
 */
function axisBlock(backend: BackendWasm, big: TensorInfo, packed: TensorInfo, axis: number, start: number, count: number, fromBig: boolean): void {
  const rows = extent(big.shape, 0, axis);
  const inner = extent(big.shape, axis + 1);
  const length = big.shape[axis];
  const bigAt = heapOffset(backend, big) + start * inner * 4;
  const packedAt = heapOffset(backend, packed);
  if (fromBig) loadAddon().strided(heap(backend), bigAt, length * inner, packedAt, count * inner, rows, count * inner);
  else loadAddon().strided(heap(backend), packedAt, count * inner, bigAt, length * inner, rows, count * inner);
}

function slice({ inputs: { x }, attrs, backend }: Args): TensorInfo | null {
  if (!allFloat(x)) return null;
  const [begin, size] = slice_util.parseSliceParams(x as never, attrs.begin as number[], attrs.size as number[]);
  const cut = size.map((d, i) => (d !== x!.shape[i] ? i : -1)).filter((i) => i >= 0);
  if (cut.length > 1 || util.sizeFromShape(size) === 0) return null;
  const axis = cut[0] ?? 0;
  const out = backend.makeOutput(size, 'float32');
  return filled(backend, out, () => axisBlock(backend, x!, out, axis, begin[axis], size[axis], true));
}

function splitV({ inputs: { x }, attrs, backend }: Args): TensorInfo[] | null {
  if (!allFloat(x)) return null;
  const axis = util.parseAxisParam(attrs.axis as number, x!.shape)[0];
  const sizes = backend_util.prepareSplitSize(x as never, attrs.numOrSizeSplits as number | number[], axis);
  const outs = sizes.map((n) => backend.makeOutput(x!.shape.map((d, i) => (i === axis ? n : d)), 'float32'));
  return filledAll(backend, outs, () => {
    let start = 0;
    sizes.forEach((n, j) => {
      if (util.sizeFromShape(outs[j].shape) > 0) axisBlock(backend, x!, outs[j], axis, start, n, true);
      start += n;
    });
  });
}

function unpack({ inputs: { value }, attrs, backend }: Args): TensorInfo[] | null {
  if (!allFloat(value)) return null;
  const axis = util.parseAxisParam(attrs.axis as number, value!.shape)[0];
  const outs = Array.from({ length: value!.shape[axis] }, () => backend.makeOutput(value!.shape.filter((_, i) => i !== axis), 'float32'));
  return filledAll(backend, outs, () => outs.forEach((o, j) => axisBlock(backend, value!, o, axis, j, 1, true)));
}

function concat({ inputs, attrs, backend }: Args): TensorInfo | null {
  const xs = Object.values(inputs) as TensorInfo[];
  if (xs.length < 2 || !allFloat(...xs)) return null;
  const axis = util.parseAxisParam(attrs.axis as number, xs[0].shape)[0];
  backend_util.assertParamsConsistent(xs.map((t) => t.shape), axis);
  const out = backend.makeOutput(backend_util.computeOutShape(xs.map((t) => t.shape), axis), 'float32');
  return filled(backend, out, () => {
    let start = 0;
    for (const t of xs) {
      axisBlock(backend, out, t, axis, start, t.shape[axis], false);
      start += t.shape[axis];
    }
  });
}

function transpose({ inputs: { x }, attrs, backend }: Args): TensorInfo | null {
  const perm = attrs.perm as number[];
  if (!allFloat(x) || x!.shape.length > 8) return null;
  const out = backend.makeOutput(perm.map((p) => x!.shape[p]), 'float32');
  return filled(backend, out, () =>
    loadAddon().transpose(heap(backend), heapOffset(backend, x!), heapOffset(backend, out), Int32Array.from([x!.shape.length, ...x!.shape, ...perm])));
}

/**
 * Sum over every axis but the last ([C]), or every axis but the first and the last ([N, C]): the bias and
 * broadcast gradients of channels-last networks, by the norm layers' channel pass (float64 partial sums).
 * tfjs's WASM Sum transposes the reduced axes to the end first. Other reductions stay WASM.
 */
function sum({ inputs: { x }, attrs, backend }: Args): TensorInfo | null {
  if (!allFloat(x) || x!.shape.length < 2) return null;
  const rank = x!.shape.length;
  const axes = util.parseAxisParam(attrs.axis as number | number[], x!.shape).sort((a, b) => a - b);
  const leading = axes.length === rank - 1 && axes.every((a, i) => a === i);
  const middle = rank >= 3 && axes.length === rank - 2 && axes.every((a, i) => a === i + 1);
  if (!leading && !middle) return null;
  const keep = x!.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const [sums] = nativePasses.reduce(backend, middle ? x!.shape[0] : 1, x!, null, null);
  const out = backend.makeOutput(attrs.keepDims === true ? keep : keep.filter((_, i) => !axes.includes(i)), 'float32');
  (backend.typedArrayFromHeap(out) as Float32Array).set(sums);
  return out;
}

const BINARY = { Add: 0, Multiply: 1, Sub: 2 } as const;

/**
 * Add, Multiply and Sub of float32 tensors where one operand is the whole output shape and the other the
 * same shape, a scalar, or a block of trailing axes (a per-channel vector [C], a [H, W, C] map): one pass
 * over all cores. Other broadcasts (and Sub with the small operand first) stay WASM.
 */
function binary(kernelName: keyof typeof BINARY) {
  return ({ inputs: { a, b }, backend }: Args): TensorInfo | null => {
    if (!allFloat(a, b)) return null;
    const [na, nb] = [util.sizeFromShape(a!.shape), util.sizeFromShape(b!.shape)];
    if (na < nb && kernelName === 'Sub') return null;
    const [big, small] = na >= nb ? [a!, b!] : [b!, a!];
    const outShape = backend_util.assertAndGetBroadcastShape(a!.shape, b!.shape);
    if (!util.arraysEqual(outShape, big.shape)) return null;
    const trailing = small.shape.slice(small.shape.findIndex((d) => d !== 1));
    const period = util.sizeFromShape(small.shape);
    if (period !== 1 && !util.arraysEqual(trailing, big.shape.slice(big.shape.length - trailing.length))) return null;
    const out = backend.makeOutput(outShape, 'float32');
    return filled(backend, out, () => loadAddon().binary(heap(backend), BINARY[kernelName], heapOffset(backend, big), heapOffset(backend, small),
      heapOffset(backend, out), util.sizeFromShape(outShape), period));
  };
}

/** Run `write` (a native call filling `outs`); frees them all if it throws. */
function filledAll(backend: BackendWasm, outs: TensorInfo[], write: () => void): TensorInfo[] {
  try {
    write();
  } catch (err) {
    for (const o of outs) backend.disposeData(o.dataId);
    throw err;
  }
  return outs;
}

/**
 * The optimisers' and the moving average's updates (src/training/optim.ts and step.ts define them and the
 * attributes), one pass per parameter: new tensors for the parameter and its state, which the caller
 * assigns to its variables. They are not written in place: a variable may share its buffer with another
 * tensor (Identity and Reshape share buffers), and allocating the outputs costs nothing next to the pass.
 *   SynthaugAdamW  p, g, m, v   → p', m', v'
 *   SynthaugSgd    p, g [, b]   → p' [, b']   (b: the momentum buffer)
 *   SynthaugEma    s, p         → s'
 */
function adamW({ inputs: { p, g, m, v }, attrs, backend }: Args): TensorInfo[] | null {
  if (!allFloat(p, g, m, v)) return null;
  const outs = [p!, m!, v!].map((t) => backend.makeOutput(t.shape, 'float32'));
  const at = (t: TensorInfo) => heapOffset(backend, t);
  const n = (k: string) => attrs[k] as number;
  return filledAll(backend, outs, () => loadAddon().adamw(heap(backend), at(p!), at(g!), at(m!), at(v!), at(outs[0]), at(outs[1]), at(outs[2]),
    util.sizeFromShape(p!.shape), n('gradScale'), n('beta1'), n('beta2'), n('c1'), n('c2'), n('eps'), n('lr'), n('keep')));
}

function sgd({ inputs: { p, g, b }, attrs, backend }: Args): TensorInfo[] | null {
  if (!allFloat(p, g, b)) return null;
  const outs = [p!, ...(b ? [b] : [])].map((t) => backend.makeOutput(t.shape, 'float32'));
  const at = (t: TensorInfo | undefined) => (t === undefined ? -1 : heapOffset(backend, t));
  const n = (k: string) => attrs[k] as number;
  return filledAll(backend, outs, () => loadAddon().sgd(heap(backend), at(p), at(g), at(b), at(outs[0]), at(outs[1]), util.sizeFromShape(p!.shape),
    n('gradScale'), n('weightDecay'), n('momentum'), attrs.nesterov === true ? 1 : 0, n('lr')));
}

function ema({ inputs: { s, p }, attrs, backend }: Args): TensorInfo | null {
  if (!allFloat(s, p)) return null;
  const out = backend.makeOutput(s!.shape, 'float32');
  return filled(backend, out, () => loadAddon().ema(heap(backend), heapOffset(backend, s!), heapOffset(backend, p!), heapOffset(backend, out),
    util.sizeFromShape(s!.shape), attrs.decay as number));
}

const ours: { kernelName: string; kernelFunc: (args: Args) => TensorInfo | TensorInfo[] | null }[] = [
  { kernelName: 'Conv2D', kernelFunc: (args) => conv2d(args, false) },
  { kernelName: 'FusedConv2D', kernelFunc: (args) => conv2d(args, true) },
  { kernelName: 'Conv2DBackpropInput', kernelFunc: conv2dBackpropInput },
  { kernelName: 'Conv2DBackpropFilter', kernelFunc: conv2dBackpropFilter },
  { kernelName: 'BatchMatMul', kernelFunc: matMul },
  { kernelName: '_FusedMatMul', kernelFunc: matMul },
  { kernelName: 'Relu', kernelFunc: unary('relu') },
  { kernelName: 'SynthaugSilu', kernelFunc: unary('silu') },
  { kernelName: 'SynthaugSiluGrad', kernelFunc: siluGrad },
  { kernelName: 'Slice', kernelFunc: slice },
  { kernelName: 'SplitV', kernelFunc: splitV },
  { kernelName: 'Concat', kernelFunc: concat },
  { kernelName: 'Unpack', kernelFunc: unpack },
  { kernelName: 'Transpose', kernelFunc: transpose },
  { kernelName: 'Sum', kernelFunc: sum },
  { kernelName: 'Add', kernelFunc: binary('Add') },
  { kernelName: 'Multiply', kernelFunc: binary('Multiply') },
  { kernelName: 'Sub', kernelFunc: binary('Sub') },
  { kernelName: 'SynthaugAdamW', kernelFunc: adamW },
  { kernelName: 'SynthaugSgd', kernelFunc: sgd },
  { kernelName: 'SynthaugEma', kernelFunc: ema },
  ...channelKernelsOn(nativePasses).map(({ kernelName, kernelFunc }) => ({ kernelName, kernelFunc: kernelFunc as (args: Args) => TensorInfo | TensorInfo[] })),
];

/** What register() replaced, by name: the fallback of each native kernel, and what unregister() restores. */
const replaced = new Map<string, KernelConfig>();

function withFallback(name: string, kernelFunc: (args: Args) => TensorInfo | TensorInfo[] | null): KernelFunc {
  return ((args: Args) => {
    const out = kernelFunc(args);
    if (out !== null) return out;
    const previous = replaced.get(name);
    if (previous === undefined) throw new Error(`${name}: this case has no native kernel and no WASM kernel to fall back on`);
    return previous.kernelFunc(args as never);
  }) as KernelFunc;
}

const registrations = ours.map(({ kernelName, kernelFunc }) => ({ kernelName, kernelFunc: withFallback(kernelName, kernelFunc) }));

export const nativeKernels: KernelSet = {
  name: 'native',
  names: ours.map((k) => k.kernelName),
  load: () => void loadAddon(),
  register() {
    loadAddon();
    for (const { kernelName, kernelFunc } of registrations) {
      const existing = getKernel(kernelName, 'wasm');
      if (existing?.kernelFunc === kernelFunc) continue;
      if (existing !== undefined) {
        replaced.set(kernelName, existing);
        unregisterKernel(kernelName, 'wasm');
      }
      // A replaced built-in keeps its setup step (run when a WASM backend initialises): the fallback needs it.
      registerKernel({ kernelName, backendName: 'wasm', kernelFunc, setupFunc: existing?.setupFunc });
    }
  },
  unregister() {
    for (const { kernelName, kernelFunc } of registrations) {
      if (getKernel(kernelName, 'wasm')?.kernelFunc !== kernelFunc) continue;
      unregisterKernel(kernelName, 'wasm');
      const previous = replaced.get(kernelName);
      if (previous !== undefined) registerKernel(previous);
      replaced.delete(kernelName);
    }
  },
};

// Kernels that training needs on the WASM backend and tfjs-backend-wasm 4.22 lacks or runs slowly.
// Found by running tf.grads of every op the ResNet, ViT, Inception and U-Net use on 'wasm'
// (test/kernels-coverage.test.ts keeps that check): missing were Conv2DBackpropFilter,
// DepthwiseConv2dNativeBackpropFilter/Input and UnsortedSegmentSum (the gradient of gather);
// Conv2DBackpropInput exists but is a direct loop, several times slower than the composition here
// (bench/kernels.ts measures both); MaxPoolGrad and ResizeNearestNeighborGrad exist but are wrong in
// some cases (scatter.ts); BatchMatMul with a transposed operand is slow. The Synthaug* kernels
// (channels.ts) are synthaug's own: the per-channel arithmetic of BatchNorm, GroupNorm and LayerNorm.
import {
  backend_util,
  getKernel,
  registerKernel,
  unregisterKernel,
  util,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { composed, type Shape4 } from './compose.js';
import { conv2dFilterGrad, conv2dInputGrad, depthwiseFilterGrad, depthwiseInputGrad, geometryOf } from './conv-backprop.js';
import { maxPoolGrad, resizeNearestNeighborGrad } from './scatter.js';
import { channelKernels } from './channels.js';
import type { KernelSet } from '../kernel-set.js';

type Args = { inputs: Record<string, TensorInfo>; attrs: Record<string, unknown>; backend: BackendWasm };
type Pad = 'same' | 'valid' | number | backend_util.ExplicitPadding;
type Rounding = 'floor' | 'round' | 'ceil' | undefined;

function channelsLast(dataFormat: unknown): 'channelsLast' {
  const format = backend_util.convertConv2DDataFormat((dataFormat ?? 'NHWC') as 'NHWC' | 'NCHW');
  if (format !== 'channelsLast') throw new Error(`the WASM conv gradients support NHWC only, got ${String(dataFormat)}`);
  return format;
}

function conv2DBackpropFilter({ inputs, attrs, backend }: Args): TensorInfo {
  const { x, dy } = inputs;
  const info = backend_util.computeConv2DInfo(x.shape as Shape4, attrs.filterShape as Shape4, attrs.strides as [number, number],
    1, attrs.pad as Pad, attrs.dimRoundingMode as Rounding, false, channelsLast(attrs.dataFormat));
  return composed(backend, (s) => conv2dFilterGrad(s, x, dy, geometryOf(info)));
}

function conv2DBackpropInput({ inputs, attrs, backend }: Args): TensorInfo {
  const { dy, filter } = inputs;
  const info = backend_util.computeConv2DInfo(attrs.inputShape as Shape4, filter.shape as Shape4, attrs.strides as [number, number],
    1, attrs.pad as Pad, attrs.dimRoundingMode as Rounding, false, channelsLast(attrs.dataFormat));
  return composed(backend, (s) => conv2dInputGrad(s, dy, filter, geometryOf(info)));
}

function depthwiseBackpropFilter({ inputs, attrs, backend }: Args): TensorInfo {
  const { x, dy } = inputs;
  const filterShape = attrs.filterShape as Shape4;
  const info = backend_util.computeConv2DInfo(x.shape as Shape4, filterShape, attrs.strides as [number, number],
    (attrs.dilations ?? 1) as [number, number], attrs.pad as Pad, attrs.dimRoundingMode as Rounding, true);
  return composed(backend, (s) => depthwiseFilterGrad(s, x, dy, geometryOf(info), filterShape[3]));
}

function depthwiseBackpropInput({ inputs, attrs, backend }: Args): TensorInfo {
  const { dy, filter } = inputs;
  const info = backend_util.computeConv2DInfo(attrs.inputShape as Shape4, filter.shape as Shape4, attrs.strides as [number, number],
    (attrs.dilations ?? 1) as [number, number], attrs.pad as Pad, attrs.dimRoundingMode as Rounding, true);
  return composed(backend, (s) => depthwiseInputGrad(s, dy, filter, geometryOf(info), filter.shape[3]));
}

/**
 * out[j, ...] = Σ_{i: ids[i] = j} x[i, ...] for x [M, ...inner], ids [M] (or ids shaped like x's leading
 * axes); ids outside [0, numSegments) are dropped, as in TensorFlow. One pass over x
 * in the WASM heap: O(size of x), where a one-hot matmul would cost O(M · numSegments · inner).
 */
function unsortedSegmentSum({ inputs, attrs, backend }: Args): TensorInfo {
  const { x, segmentIds } = inputs;
  const numSegments = attrs.numSegments as number;
  const idCount = util.sizeFromShape(segmentIds.shape);
  const inner = util.sizeFromShape(x.shape) / idCount;
  if (!Number.isInteger(inner)) throw new Error(`UnsortedSegmentSum: ids [${segmentIds.shape}] do not tile x [${x.shape}]`);
  const outShape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
  const out = backend.makeOutput(outShape, x.dtype);
  // Views are taken after makeOutput: an allocation may grow (and so replace) the WASM heap.
  const xs = backend.typedArrayFromHeap(x);
  const ids = backend.typedArrayFromHeap(segmentIds);
  const o = backend.typedArrayFromHeap(out);
  o.fill(0);
  for (let i = 0; i < idCount; i++) {
    const j = ids[i];
    if (j < 0 || j >= numSegments) continue;
    const src = i * inner;
    const dst = j * inner;
    for (let k = 0; k < inner; k++) o[dst + k] += xs[src + k];
  }
  return out;
}

/**
 * BatchMatMul with transposeA or transposeB as an explicit Transpose followed by tfjs's plain product:
 * its own transposed products are 15–25× slower on large operands (bench/kernels.ts), and every linear
 * layer's weight gradient dW = xᵀ·dy is one. Small batched ones (attention scores q·kᵀ) come out even.
 */
function batchMatMul({ inputs, attrs, backend }: Args): TensorInfo {
  const builtin = builtins.get('BatchMatMul');
  if (builtin === undefined) throw new Error('the WASM backend has no BatchMatMul kernel to delegate to');
  const plain = (a: TensorInfo, b: TensorInfo) =>
    builtin.kernelFunc({ inputs: { a, b }, attrs: { ...attrs, transposeA: false, transposeB: false }, backend } as never) as TensorInfo;
  if (!attrs.transposeA && !attrs.transposeB) return plain(inputs.a, inputs.b);
  return composed(backend, (s) => {
    const swapLast = (t: TensorInfo) => {
      const r = t.shape.length;
      return s.transpose(t, [...t.shape.keys()].slice(0, r - 2).concat([r - 1, r - 2]));
    };
    return plain(attrs.transposeA ? swapLast(inputs.a) : inputs.a, attrs.transposeB ? swapLast(inputs.b) : inputs.b);
  });
}

/**
 * Identity sharing x's buffer (reference-counted, as tfjs's Reshape and the cpu backend's Identity do):
 * tfjs-backend-wasm's own copies it, and a training step calls Identity over a hundred times (gradients
 * passed through unchanged), about 6% of a ResNet-20 step.
 */
function identity({ inputs: { x }, backend }: Args): TensorInfo {
  if (x.dtype === 'string') return builtins.get('Identity')!.kernelFunc({ inputs: { x }, attrs: {}, backend } as never) as TensorInfo;
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

const ours: { kernelName: string; kernelFunc: (args: Args) => TensorInfo | TensorInfo[] }[] = [
  { kernelName: 'Identity', kernelFunc: identity },
  { kernelName: 'BatchMatMul', kernelFunc: batchMatMul },
  ...channelKernels,
  { kernelName: 'Conv2DBackpropFilter', kernelFunc: conv2DBackpropFilter },
  { kernelName: 'Conv2DBackpropInput', kernelFunc: conv2DBackpropInput },
  { kernelName: 'DepthwiseConv2dNativeBackpropFilter', kernelFunc: depthwiseBackpropFilter },
  { kernelName: 'DepthwiseConv2dNativeBackpropInput', kernelFunc: depthwiseBackpropInput },
  { kernelName: 'UnsortedSegmentSum', kernelFunc: unsortedSegmentSum },
  { kernelName: 'MaxPoolGrad', kernelFunc: ({ inputs, attrs, backend }) => maxPoolGrad(backend, inputs.dy, inputs.input, attrs as never) },
  {
    kernelName: 'ResizeNearestNeighborGrad',
    kernelFunc: ({ inputs, attrs, backend }) => resizeNearestNeighborGrad(backend, inputs.images, inputs.dy, attrs as never),
  },
];

/** The kernels tfjs-backend-wasm itself registered under names we replace (for benchmarks and tests). */
const builtins = new Map<string, KernelConfig>();

export function builtinWasmKernel(name: string): KernelConfig | undefined {
  return builtins.get(name);
}

/** Register synthaug's WASM kernels (replacing built-ins of the same name). Idempotent. */
export function registerWasmKernels(): void {
  for (const { kernelName, kernelFunc } of ours) {
    const existing = getKernel(kernelName, 'wasm');
    if (existing?.kernelFunc === (kernelFunc as unknown)) continue;
    if (existing !== undefined) {
      if (!builtins.has(kernelName)) builtins.set(kernelName, existing);
      unregisterKernel(kernelName, 'wasm');
    }
    // A built-in we delegate to (BatchMatMul) keeps its setup step, run when a WASM backend initialises.
    const setupFunc = builtins.get(kernelName)?.setupFunc;
    registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernelFunc as unknown as KernelFunc, setupFunc });
  }
}

/** Put back tfjs-backend-wasm's own kernels where ours replaced them, and drop the others (for benchmarks). */
export function unregisterWasmKernels(): void {
  for (const { kernelName, kernelFunc } of ours) {
    if (getKernel(kernelName, 'wasm')?.kernelFunc !== (kernelFunc as unknown)) continue;
    unregisterKernel(kernelName, 'wasm');
    const builtin = builtins.get(kernelName);
    if (builtin !== undefined) registerKernel(builtin);
  }
}

/** The WASM SIMD kernels as a KernelSet (their code is part of the build: load() has nothing to do). */
export const wasmKernels: KernelSet = {
  name: 'wasm',
  names: ours.map((k) => k.kernelName),
  load: () => {},
  register: registerWasmKernels,
  unregister: unregisterWasmKernels,
};

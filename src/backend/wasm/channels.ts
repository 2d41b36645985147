// Per-channel statistics and affine maps of channels-last tensors on the WASM backend, as single SIMD
// passes (channels.wat) over the backend's own memory. tfjs-backend-wasm reduces over leading axes by
// transposing first and runs each broadcast multiply or add as its own pass: a training-mode BatchNorm
// took about ten such passes forward and back; with these kernels it takes five, and GroupNorm likewise.
//
// Kernels (all float32, the channel axis last and a multiple of 4 wide, else the op falls back to tfjs ops;
// see src/nn/channels.ts for the backend-independent ops and their definitions):
//   SynthaugChannelSum      u                → Σu over all axes but the last: [C]
//   SynthaugChannelDot      u, v, m          → Σu, Σ u·(v − m): [C] each, m of shape [C]
//   SynthaugChannelAffine   u, a, d [, v, b] → u·a + d [+ v·b], a, b, d of shape [C]
// With attr perImage the sums are taken per image of the leading axis N ([N, C] out, m of shape [N, C]);
// the affine map takes [N, C] coefficients the same way.
import { util, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapOffset, simdModule } from './simd.js';

interface ChannelExports {
  colsum(u: number, rows: number, C: number, su: number): void;
  coldot(u: number, v: number, m: number, rows: number, C: number, su: number, suv: number): void;
  affine1(u: number, out: number, rows: number, C: number, a: number, d: number): void;
  affine2(u: number, v: number, out: number, rows: number, C: number, a: number, b: number, d: number): void;
}

type Args = { inputs: Record<string, TensorInfo>; attrs: Record<string, unknown>; backend: BackendWasm };

function kernelsFor(backend: BackendWasm): ChannelExports {
  return simdModule<ChannelExports>(backend, 'channels');
}

/** Rows per kernel call of a reduction: partial sums of blocks are added in float64 here, which keeps
 * a sum over a million rows as accurate as one over a few hundred. */
const BLOCK_ROWS = 256;

/**
 * Σ over rows of u (and of u·(v − m) when v is given) for each of `images` equal slices of the rows, as
 * float64 [images·C] arrays; m holds C or images·C values. Uses a [2, C] scratch tensor in the heap for
 * the kernels' accumulators.
 */
function reduceRows(backend: BackendWasm, images: number, u: TensorInfo, v: TensorInfo | null, m: TensorInfo | null): [Float64Array, Float64Array] {
  const k = kernelsFor(backend);
  const C = u.shape[u.shape.length - 1];
  const rows = util.sizeFromShape(u.shape) / C / images;
  const scratch = backend.makeOutput([2, C], 'float32');
  const s = heapOffset(backend, scratch);
  const uo = heapOffset(backend, u);
  const vo = v ? heapOffset(backend, v) : 0;
  const mPerImage = m !== null && util.sizeFromShape(m.shape) !== C;
  const su = new Float64Array(images * C);
  const suv = new Float64Array(images * C);
  const acc = backend.typedArrayFromHeap(scratch) as Float32Array;
  for (let img = 0; img < images; img++) {
    const base = img * rows * C * 4;
    const mo = m ? heapOffset(backend, m) + (mPerImage ? img * C * 4 : 0) : 0;
    for (let r0 = 0; r0 < rows; r0 += BLOCK_ROWS) {
      const n = Math.min(BLOCK_ROWS, rows - r0);
      acc.fill(0);
      const at = base + r0 * C * 4;
      if (v) k.coldot(uo + at, vo + at, mo, n, C, s, s + C * 4);
      else k.colsum(uo + at, n, C, s);
      for (let c = 0; c < C; c++) {
        su[img * C + c] += acc[c];
        suv[img * C + c] += acc[C + c];
      }
    }
  }
  backend.disposeData(scratch.dataId);
  return [su, suv];
}

function output(backend: BackendWasm, shape: number[], values: ArrayLike<number>): TensorInfo {
  const out = backend.makeOutput(shape, 'float32');
  (backend.typedArrayFromHeap(out) as Float32Array).set(values);
  return out;
}

/** [C], or [N, C] when the statistics are per image (attr perImage, leading axis N). */
function statsShape(u: TensorInfo, perImage: boolean): [number[], number] {
  const C = u.shape[u.shape.length - 1];
  return perImage ? [[u.shape[0], C], u.shape[0]] : [[C], 1];
}

/**
 * The two passes behind the three kernels: `reduce` gives Σu and Σu·(v − m) per image slice as float64
 * [images·C] arrays (m: C or images·C values); `affine` writes out = u·a + d [+ v·b] for `images` equal
 * slices of u's rows, coefficients C values each or, with perImage, one row of C per slice.
 */
export interface ChannelPasses {
  reduce(backend: BackendWasm, images: number, u: TensorInfo, v: TensorInfo | null, m: TensorInfo | null): [Float64Array, Float64Array];
  affine(backend: BackendWasm, out: TensorInfo, images: number, perImage: boolean, u: TensorInfo, a: TensorInfo, d: TensorInfo,
    v?: TensorInfo, b?: TensorInfo): void;
}

const wasmPasses: ChannelPasses = {
  reduce: reduceRows,
  affine(backend, out, images, perImage, u, a, d, v, b) {
    const k = kernelsFor(backend);
    const C = u.shape[u.shape.length - 1];
    const rows = util.sizeFromShape(u.shape) / C / images;
    const [uo, oo] = [heapOffset(backend, u), heapOffset(backend, out)];
    for (let img = 0; img < images; img++) {
      const at = img * rows * C * 4;
      const coef = (t: TensorInfo) => heapOffset(backend, t) + (perImage ? img * C * 4 : 0);
      if (v && b) k.affine2(uo + at, heapOffset(backend, v) + at, oo + at, rows, C, coef(a), coef(b), coef(d));
      else k.affine1(uo + at, oo + at, rows, C, coef(a), coef(d));
    }
  },
};

/** SynthaugChannelSum, SynthaugChannelDot and SynthaugChannelAffine computed by `passes`. */
export function channelKernelsOn(passes: ChannelPasses) {
  const channelSum = ({ inputs: { u }, attrs, backend }: Args): TensorInfo => {
    const [shape, images] = statsShape(u, attrs.perImage === true);
    const [su] = passes.reduce(backend, images, u, null, null);
    return output(backend, shape, su);
  };
  const channelDot = ({ inputs: { u, v, m }, attrs, backend }: Args): TensorInfo[] => {
    const [shape, images] = statsShape(u, attrs.perImage === true);
    const [su, suv] = passes.reduce(backend, images, u, v, m);
    return [output(backend, shape, su), output(backend, shape, suv)];
  };
  /** u·a + d [+ v·b]; a, b and d hold C values, or N·C (one row per image of the leading axis). */
  const channelAffine = ({ inputs: { u, a, d, v, b }, backend }: Args): TensorInfo => {
    const C = u.shape[u.shape.length - 1];
    const perImage = util.sizeFromShape(a.shape) !== C;
    const out = backend.makeOutput(u.shape, 'float32');
    passes.affine(backend, out, perImage ? u.shape[0] : 1, perImage, u, a, d, v, b);
    return out;
  };
  return [
    { kernelName: 'SynthaugChannelSum', kernelFunc: channelSum },
    { kernelName: 'SynthaugChannelDot', kernelFunc: channelDot },
    { kernelName: 'SynthaugChannelAffine', kernelFunc: channelAffine },
  ] as const;
}

export const channelKernels = channelKernelsOn(wasmPasses);

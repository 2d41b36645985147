// Gradients that scatter dy back to where the forward op read from, as one pass over the WASM heap.
// tfjs-backend-wasm 4.22 has both kernels, but:
// - its MaxPoolGrad loses the gradient of some windows (3x3 stride 2 'same' on 5x5: the bottom-right
//   window's dy never arrives), so it disagrees with the cpu backend and the definition;
// - its ResizeNearestNeighborGrad (like the cpu one) is not the adjoint of the forward op with
//   halfPixelCenters: 8x6 → 5x4 sends the gradient to columns 0,1,3,4 where the forward read 0,2,3,5.
// test/kernels.test.ts and test/kernels-coverage.test.ts check these against the definitions.
import { backend_util, util, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

type Pad = 'same' | 'valid' | number | backend_util.ExplicitPadding;

/** A zeroed float32 output and Float32Array views of it and of `inputs` (views taken after allocating). */
function heapViews(backend: BackendWasm, outShape: number[], inputs: TensorInfo[]): { out: TensorInfo; o: Float32Array; views: Float32Array[] } {
  const out = backend.makeOutput(outShape, 'float32');
  const o = backend.typedArrayFromHeap(out) as Float32Array;
  o.fill(0);
  return { out, o, views: inputs.map((t) => backend.typedArrayFromHeap(t) as Float32Array) };
}

/**
 * dx for y = maxPool(x): each window's dy goes to its first maximal input element (row-major order in
 * the window; padding never wins), as TensorFlow and the tfjs cpu backend do. x [N,H,W,C].
 */
export function maxPoolGrad(
  backend: BackendWasm, dy: TensorInfo, input: TensorInfo,
  attrs: { filterSize: number | [number, number]; strides: number | [number, number]; pad: Pad; dimRoundingMode?: 'floor' | 'round' | 'ceil' },
): TensorInfo {
  const info = backend_util.computePool2DInfo(input.shape as [number, number, number, number], attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: C, outHeight: Ho, outWidth: Wo } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  const { out, o, views: [g, x] } = heapViews(backend, input.shape, [dy, input]);
  const best = new Float32Array(C);
  const at = new Int32Array(C);
  for (let n = 0; n < N; n++) {
    for (let r = 0; r < Ho; r++) {
      const h0 = r * sh - top;
      for (let q = 0; q < Wo; q++) {
        const w0 = q * sw - left;
        best.fill(-Infinity);
        at.fill(-1);
        for (let i = Math.max(0, h0); i < Math.min(H, h0 + kh); i++) {
          for (let j = Math.max(0, w0); j < Math.min(W, w0 + kw); j++) {
            const base = ((n * H + i) * W + j) * C;
            for (let c = 0; c < C; c++) {
              const v = x[base + c];
              if (v > best[c] || at[c] < 0) {
                best[c] = v;
                at[c] = base + c;
              }
            }
          }
        }
        const gBase = ((n * Ho + r) * Wo + q) * C;
        for (let c = 0; c < C; c++) if (at[c] >= 0) o[at[c]] += g[gBase + c];
      }
    }
  }
  return out;
}

/** Source index of output position `r` in ResizeNearestNeighbor (TensorFlow's rule, as tfjs's forward uses). */
function nearestSource(r: number, inLen: number, outLen: number, alignCorners: boolean, halfPixelCenters: boolean): number {
  const ratio = alignCorners && outLen > 1 ? (inLen - 1) / (outLen - 1) : inLen / outLen;
  const frac = halfPixelCenters ? ratio * (r + 0.5) : ratio * r;
  const src = Math.min(inLen - 1, alignCorners ? Math.round(frac) : Math.floor(frac));
  return halfPixelCenters ? Math.max(0, src) : src;
}

/** d images for y = resizeNearestNeighbor(images): each dy pixel is added to the pixel it was copied from. */
export function resizeNearestNeighborGrad(
  backend: BackendWasm, images: TensorInfo, dy: TensorInfo, attrs: { alignCorners: boolean; halfPixelCenters: boolean },
): TensorInfo {
  const [N, H, W, C] = images.shape;
  const [, Ho, Wo] = dy.shape;
  util.assert(dy.shape[0] === N && dy.shape[3] === C, () => `ResizeNearestNeighborGrad: dy [${dy.shape}] vs images [${images.shape}]`);
  const rows = Array.from({ length: Ho }, (_, r) => nearestSource(r, H, Ho, attrs.alignCorners, attrs.halfPixelCenters));
  const cols = Array.from({ length: Wo }, (_, q) => nearestSource(q, W, Wo, attrs.alignCorners, attrs.halfPixelCenters));
  const { out, o, views: [g] } = heapViews(backend, images.shape, [dy]);
  for (let n = 0; n < N; n++) {
    for (let r = 0; r < Ho; r++) {
      for (let q = 0; q < Wo; q++) {
        const src = ((n * H + rows[r]) * W + cols[q]) * C;
        const from = ((n * Ho + r) * Wo + q) * C;
        for (let c = 0; c < C; c++) o[src + c] += g[from + c];
      }
    }
  }
  return out;
}

// Gradients of 2-D convolution (NHWC) composed from the fast XNNPACK-backed forward kernels.
//
// For one spatial axis, with stride s, dilation d, top padding p, a conv reads
//   y[o] = Σ_i x[o·s + i·d − p] · w[i].
// Filter gradient: dw[i] = Σ_o x[i·d + o·s − p] · dy[o]. Swapping the roles of batch and channels,
//   that is a conv of x (batch ← Ci, channels ← N) with dy as the filter (taps ← output positions,
//   in ← N, out ← Co), stride d, dilation s, same top padding p.
// Input gradient: dx[h] = Σ_{o,i: o·s + i·d − p = h} dy[o] · w[i]. Insert s−1 zeros between the rows
//   of dy and it is a stride-1 correlation with the flipped filter (in ← Co, out ← Ci), dilation d,
//   top padding (k−1)·d − p.
import { backend_util, type TensorInfo } from '@tensorflow/tfjs-core';
import type { KernelScope, Shape4 } from './compose.js';

/** Geometry of one forward conv, as backend_util.computeConv2DInfo reports it. */
export interface ConvGeometry {
  inShape: Shape4; // [N, H, W, Ci]
  filterHeight: number;
  filterWidth: number;
  outHeight: number;
  outWidth: number;
  strides: [number, number];
  dilations: [number, number];
  padTop: number;
  padLeft: number;
}

export function geometryOf(info: backend_util.Conv2DInfo): ConvGeometry {
  if (info.dataFormat !== 'channelsLast') {
    throw new Error(`the WASM conv gradients support NHWC only, got ${info.dataFormat}`);
  }
  return {
    inShape: [info.batchSize, info.inHeight, info.inWidth, info.inChannels],
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    strides: [info.strideHeight, info.strideWidth],
    dilations: [info.dilationHeight, info.dilationWidth],
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

/**
 * Along one axis of the filter-gradient conv: how much input it reads and the padding it needs.
 * `inLen` input positions, kernel `k` with dilation `d`, forward stride `s`, `out` output positions.
 * Returns [crop-or-pad before, crop-or-pad after] for the input (negative = crop).
 */
function filterGradAxis(inLen: number, k: number, d: number, s: number, out: number, pad: number): [number, number] {
  const span = (k - 1) * d + (out - 1) * s + 1; // padded input positions the forward conv touched
  return [pad, span - pad - inLen];
}

/** dL/dw for y = conv2d(x, w): x [N,H,W,Ci], dy [N,Ho,Wo,Co] → [kh,kw,Ci,Co]. */
export function conv2dFilterGrad(s: KernelScope, x: TensorInfo, dy: TensorInfo, g: ConvGeometry): TensorInfo {
  const [, H, W] = g.inShape;
  const [sh, sw] = g.strides;
  const [dh, dw] = g.dilations;
  const [padH0, padH1] = filterGradAxis(H, g.filterHeight, dh, sh, g.outHeight, g.padTop);
  const [padW0, padW1] = filterGradAxis(W, g.filterWidth, dw, sw, g.outWidth, g.padLeft);
  // Rows past the last one the forward conv read are cropped (Slice) rather than computed and dropped.
  let xs = s.padOrCrop(x, [[0, 0], [0, Math.min(0, padH1)], [0, Math.min(0, padW1)], [0, 0]]);
  xs = s.transpose(xs, [3, 1, 2, 0]); // [Ci, H', W', N]
  const f = s.transpose(dy, [1, 2, 0, 3]); // [Ho, Wo, N, Co]
  const pad = [[0, 0], [padH0, Math.max(0, padH1)], [padW0, Math.max(0, padW1)], [0, 0]];
  const out = s.run('Conv2D', { x: xs, filter: f }, {
    strides: [dh, dw], dilations: [sh, sw], pad, dataFormat: 'NHWC', dimRoundingMode: undefined,
  } as never); // [Ci, kh, kw, Co]
  return s.transpose(out, [1, 2, 0, 3]);
}

/** dy [N,Ho,Wo,C] with s−1 zeros after each row/column, then padded or cropped to the given amounts. */
function dilateAndPad(s: KernelScope, dy: TensorInfo, strides: [number, number], padH: [number, number], padW: [number, number]): TensorInfo {
  const [N, Ho, Wo, C] = dy.shape;
  const [sh, sw] = strides;
  let t = dy;
  if (sh > 1 || sw > 1) {
    t = s.reshape(t, [N, Ho, 1, Wo, 1, C]);
    t = s.run('PadV2', { x: t }, { paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]], constantValue: 0 });
    t = s.reshape(t, [N, Ho * sh, Wo * sw, C]);
  }
  // The zero-inserted tensor already ends in s−1 zero rows: count them against the bottom padding.
  return s.padOrCrop(t, [[0, 0], [padH[0], padH[1] - (sh - 1)], [padW[0], padW[1] - (sw - 1)], [0, 0]]);
}

/** Padding of the dilated dy so that a stride-1 correlation with the flipped filter yields `inLen` rows. */
function inputGradAxis(inLen: number, k: number, d: number, s: number, out: number, pad: number): [number, number] {
  const before = (k - 1) * d - pad;
  const dilatedLen = (out - 1) * s + 1;
  return [before, inLen + (k - 1) * d - dilatedLen - before];
}

/** dL/dx for y = conv2d(x, w): dy [N,Ho,Wo,Co], w [kh,kw,Ci,Co] → [N,H,W,Ci]. */
export function conv2dInputGrad(s: KernelScope, dy: TensorInfo, filter: TensorInfo, g: ConvGeometry): TensorInfo {
  const [, H, W] = g.inShape;
  const padH = inputGradAxis(H, g.filterHeight, g.dilations[0], g.strides[0], g.outHeight, g.padTop);
  const padW = inputGradAxis(W, g.filterWidth, g.dilations[1], g.strides[1], g.outWidth, g.padLeft);
  const dyP = dilateAndPad(s, dy, g.strides, padH, padW);
  const flipped = s.run('Reverse', { x: filter }, { dims: [0, 1] });
  const wT = s.transpose(flipped, [0, 1, 3, 2]); // [kh, kw, Co, Ci]
  return s.run('Conv2D', { x: dyP, filter: wT }, {
    strides: [1, 1], dilations: g.dilations, pad: 'valid', dataFormat: 'NHWC', dimRoundingMode: undefined,
  } as never);
}

/**
 * dL/dw for y = depthwiseConv2d(x, w): x [N,H,W,C], dy [N,Ho,Wo,C·m] → [kh,kw,C,m].
 * Each (image, channel) pair becomes one depthwise channel: x → [1,H,W,N·C], dy → filter [Ho,Wo,N·C,m];
 * the result [1,kh,kw,N·C·m] is summed over images.
 */
export function depthwiseFilterGrad(s: KernelScope, x: TensorInfo, dy: TensorInfo, g: ConvGeometry, multiplier: number): TensorInfo {
  const [N, H, W, C] = g.inShape;
  const [sh, sw] = g.strides;
  const [dh, dw] = g.dilations;
  const [padH0, padH1] = filterGradAxis(H, g.filterHeight, dh, sh, g.outHeight, g.padTop);
  const [padW0, padW1] = filterGradAxis(W, g.filterWidth, dw, sw, g.outWidth, g.padLeft);
  let xs = s.padOrCrop(x, [[0, 0], [0, Math.min(0, padH1)], [0, Math.min(0, padW1)], [0, 0]]);
  const [, Hc, Wc] = xs.shape;
  xs = s.reshape(s.transpose(xs, [1, 2, 0, 3]), [1, Hc, Wc, N * C]);
  const dy5 = s.reshape(dy, [N, g.outHeight, g.outWidth, C, multiplier]);
  const f = s.reshape(s.transpose(dy5, [1, 2, 0, 3, 4]), [g.outHeight, g.outWidth, N * C, multiplier]);
  const pad = [[0, 0], [padH0, Math.max(0, padH1)], [padW0, Math.max(0, padW1)], [0, 0]];
  const out = s.run('DepthwiseConv2dNative', { x: xs, filter: f }, {
    strides: [dh, dw], dilations: [sh, sw], pad, dimRoundingMode: undefined,
  } as never); // [1, kh, kw, N·C·m]
  const per = s.reshape(out, [g.filterHeight, g.filterWidth, N, C, multiplier]);
  return s.run('Sum', { x: per }, { axis: [2], keepDims: false });
}

/** dL/dx for y = depthwiseConv2d(x, w): dy [N,Ho,Wo,C·m], w [kh,kw,C,m] → [N,H,W,C]. */
export function depthwiseInputGrad(s: KernelScope, dy: TensorInfo, filter: TensorInfo, g: ConvGeometry, multiplier: number): TensorInfo {
  const [N, H, W, C] = g.inShape;
  const padH = inputGradAxis(H, g.filterHeight, g.dilations[0], g.strides[0], g.outHeight, g.padTop);
  const padW = inputGradAxis(W, g.filterWidth, g.dilations[1], g.strides[1], g.outWidth, g.padLeft);
  const flipped = s.run('Reverse', { x: filter }, { dims: [0, 1] }); // [kh, kw, C, m]
  const attrs = { strides: [1, 1], dilations: g.dilations, pad: 'valid', dimRoundingMode: undefined } as never;
  if (multiplier === 1) {
    return s.run('DepthwiseConv2dNative', { x: dilateAndPad(s, dy, g.strides, padH, padW), filter: flipped }, attrs);
  }
  // dx[c] = Σ_k corr(dy[c·m + k], w[:, :, c, k]): one depthwise conv per multiplier slot, then a sum.
  const dy5 = s.reshape(dy, [N, g.outHeight, g.outWidth, C, multiplier]);
  const parts: TensorInfo[] = [];
  for (let k = 0; k < multiplier; k++) {
    const dyK = s.reshape(s.run('Slice', { x: dy5 }, { begin: [0, 0, 0, 0, k], size: [N, g.outHeight, g.outWidth, C, 1] }), [N, g.outHeight, g.outWidth, C]);
    const wK = s.run('Slice', { x: flipped }, { begin: [0, 0, 0, k], size: [g.filterHeight, g.filterWidth, C, 1] });
    parts.push(s.run('DepthwiseConv2dNative', { x: dilateAndPad(s, dyK, g.strides, padH, padW), filter: wK }, attrs));
  }
  return parts.reduce((a, b) => s.run('Add', { a, b }));
}

// Gradients of 2-D convolution (NHWC) composed from the fast XNNPACK-backed forward kernels.
//
// For one spatial axis, with stride s, dilation d, top padding p, a conv reads
//   y[o] = Σ_i x[o·s + i·d − p] · w[i].
// Filter gradient: dw[i] = Σ_o x[i·d + o·s − p] · dy[o]. Swapping the roles of batch and channels,
//   that is a conv of x (batch ← Ci, channels ← N) with dy as the filter (taps ← output positions,
//   in ← N, out ← Co), stride d, dilation s, same top padding p.
// Input gradient: dx[h] = Σ_{o,i: o·s + i·d − p = h} dy[o] · w[i]. Split by the phase h mod s, each
//   phase is a stride-1 correlation of dy with its own taps of the flipped filter; all phases run as one
//   conv with s²·Ci output channels, then interleave (phasePlan below). The depthwise input gradient
//   still takes the older route: insert s−1 zeros between the rows of dy and correlate with the flipped
//   filter, dilation d, top padding (k−1)·d − p.
import { backend_util, type TensorInfo } from '@tensorflow/tfjs-core';
import type { KernelScope, Shape4 } from './compose.js';
import { heapOffset, simdModule } from './simd.js';

interface LayoutExports {
  channelsToBatch(src: number, dst: number, N: number, H: number, W: number, C: number, Hc: number, Wc: number): void;
  batchToTaps(src: number, dst: number, N: number, T: number, C: number): void;
}

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

/**
 * `x` [N,H,W,C] → [C,H',W',N] with rows and columns past H' and W' dropped (H' ≤ H, W' ≤ W): one pass
 * over the WASM heap (SIMD, layout.wat, when N and C are multiples of 4), several times faster than the
 * generic Transpose and Slice kernels.
 */
function channelsToBatch(s: KernelScope, x: TensorInfo, Hc: number, Wc: number): TensorInfo {
  const [N, H, W, C] = x.shape;
  const out = s.alloc([C, Hc, Wc, N]);
  // The SIMD loops run their bodies at least once: empty tensors take the JS path.
  if (N % 4 === 0 && C % 4 === 0 && N * C * Hc * Wc > 0) {
    simdModule<LayoutExports>(s.backend, 'layout').channelsToBatch(heapOffset(s.backend, x), heapOffset(s.backend, out), N, H, W, C, Hc, Wc);
    return out;
  }
  const src = s.heap(x);
  const dst = s.heap(out);
  const plane = Hc * Wc * N;
  // Consecutive writes go to consecutive images (n innermost but for the channel scatter), which keeps
  // the C output rows being written in cache.
  for (let h = 0; h < Hc; h++) {
    for (let w = 0; w < Wc; w++) {
      const o = (h * Wc + w) * N;
      for (let n = 0; n < N; n++) {
        const i = ((n * H + h) * W + w) * C;
        for (let c = 0, oc = o + n; c < C; c++, oc += plane) dst[oc] = src[i + c];
      }
    }
  }
  return out;
}

/** `dy` [N,Ho,Wo,C] → [Ho,Wo,N,C]: blocks of C floats moved, in one pass over the WASM heap (SIMD when C is a multiple of 4). */
function batchToTaps(s: KernelScope, dy: TensorInfo): TensorInfo {
  const [N, Ho, Wo, C] = dy.shape;
  const out = s.alloc([Ho, Wo, N, C]);
  if (C % 4 === 0 && N * Ho * Wo * C > 0) {
    simdModule<LayoutExports>(s.backend, 'layout').batchToTaps(heapOffset(s.backend, dy), heapOffset(s.backend, out), N, Ho * Wo, C);
    return out;
  }
  const src = s.heap(dy);
  const dst = s.heap(out);
  const taps = Ho * Wo;
  for (let n = 0; n < N; n++) {
    for (let t = 0; t < taps; t++) {
      const i = (n * taps + t) * C;
      const o = (t * N + n) * C;
      for (let c = 0; c < C; c++) dst[o + c] = src[i + c];
    }
  }
  return out;
}

/** dL/dw for y = conv2d(x, w): x [N,H,W,Ci], dy [N,Ho,Wo,Co] → [kh,kw,Ci,Co]. */
export function conv2dFilterGrad(s: KernelScope, x: TensorInfo, dy: TensorInfo, g: ConvGeometry): TensorInfo {
  const [, H, W] = g.inShape;
  const [sh, sw] = g.strides;
  const [dh, dw] = g.dilations;
  const [padH0, padH1] = filterGradAxis(H, g.filterHeight, dh, sh, g.outHeight, g.padTop);
  const [padW0, padW1] = filterGradAxis(W, g.filterWidth, dw, sw, g.outWidth, g.padLeft);
  // Rows past the last one the forward conv read are dropped rather than computed and thrown away.
  const xs = channelsToBatch(s, x, H + Math.min(0, padH1), W + Math.min(0, padW1)); // [Ci, H', W', N]
  const f = batchToTaps(s, dy); // [Ho, Wo, N, Co]
  const pad = [[0, 0], [padH0, Math.max(0, padH1)], [padW0, Math.max(0, padW1)], [0, 0]];
  const out = s.run('Conv2D', { x: xs, filter: f }, {
    strides: [dh, dw], dilations: [sh, sw], pad, dataFormat: 'NHWC', dimRoundingMode: undefined,
  } as never); // [Ci, kh, kw, Co]
  return s.transpose(out, [1, 2, 0, 3]);
}

/**
 * The input gradient along one axis, split by output phase. With forward stride s, dilation d and top
 * padding p, input row h = q·s + r (phase r) receives dy[o]·w[i] where o·s + i·d − p = h, that is
 * o = q + m with m = (p + r − i·d)/s whenever that is a whole number. So each phase is a stride-1
 * correlation of dy with the taps i of its own residue class: no zeros inserted into dy, and s times
 * less work than correlating a zero-dilated dy. All phases share one tap window [mLo, mHi], spaced `dil`
 * apart (d when s = 1, so the plain case is the flipped filter with dilation d).
 */
interface PhasePlan {
  stride: number;
  taps: { r: number; i: number; j: number }[]; // phase r takes filter tap i at window slot j
  window: number; // slots in the shared window
  dil: number; // spacing of the slots, in rows of dy
  rows: number; // rows per phase, ceil(inLen / s)
  pad: [number, number]; // padding (negative: cropping) of dy before and after
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

function phasePlan(inLen: number, k: number, d: number, s: number, out: number, pad: number): PhasePlan {
  const raw: { r: number; i: number; m: number }[] = [];
  for (let r = 0; r < s; r++) {
    for (let i = 0; i < k; i++) {
      const num = pad + r - i * d;
      if (((num % s) + s) % s === 0) raw.push({ r, i, m: num / s });
    }
  }
  const mLo = Math.min(...raw.map((t) => t.m));
  const mHi = Math.max(...raw.map((t) => t.m));
  const dil = raw.reduce((acc, t) => gcd(acc, t.m - mLo), 0) || 1;
  const rows = Math.ceil(inLen / s);
  return {
    stride: s,
    taps: raw.map(({ r, i, m }) => ({ r, i, j: (m - mLo) / dil })),
    window: (mHi - mLo) / dil + 1,
    dil,
    rows,
    pad: [-mLo, rows + mHi - out],
  };
}

/**
 * The correlation filter of all phases at once: [windowH, windowW, Co, sh·sw·Ci] from w [kh,kw,Ci,Co],
 * output channel (rh·sw + rw)·Ci + ci for phase (rh, rw). Built in one pass over the WASM heap.
 */
function phaseFilter(s: KernelScope, w: TensorInfo, ph: PhasePlan, pw: PhasePlan): TensorInfo {
  const [, kw, Ci, Co] = w.shape;
  const phases = ph.stride * pw.stride;
  const outC = phases * Ci;
  const f = s.alloc([ph.window, pw.window, Co, outC]);
  const src = s.heap(w);
  const dst = s.heap(f);
  dst.fill(0);
  for (const th of ph.taps) {
    for (const tw of pw.taps) {
      const from = (th.i * kw + tw.i) * Ci * Co;
      const to = (th.j * pw.window + tw.j) * Co * outC + (th.r * pw.stride + tw.r) * Ci;
      for (let ci = 0; ci < Ci; ci++) {
        for (let co = 0; co < Co; co++) dst[to + co * outC + ci] = src[from + ci * Co + co];
      }
    }
  }
  return f;
}

/** [N, Qh, Qw, sh·sw·C] by phase → [N, H, W, C], row q·sh + rh, column q'·sw + rw; rows past H dropped. */
function interleavePhases(s: KernelScope, y: TensorInfo, sh: number, sw: number, H: number, W: number): TensorInfo {
  const [N, Qh, Qw, PC] = y.shape;
  const C = PC / (sh * sw);
  const out = s.alloc([N, H, W, C]);
  const src = s.heap(y);
  const dst = s.heap(out);
  for (let n = 0; n < N; n++) {
    for (let h = 0; h < H; h++) {
      const q = Math.floor(h / sh);
      const rh = h - q * sh;
      for (let w = 0; w < W; w++) {
        const qw = Math.floor(w / sw);
        const i = ((n * Qh + q) * Qw + qw) * PC + (rh * sw + (w - qw * sw)) * C;
        const o = ((n * H + h) * W + w) * C;
        for (let c = 0; c < C; c++) dst[o + c] = src[i + c];
      }
    }
  }
  return out;
}

/** dL/dx for y = conv2d(x, w): dy [N,Ho,Wo,Co], w [kh,kw,Ci,Co] → [N,H,W,Ci]. */
export function conv2dInputGrad(s: KernelScope, dy: TensorInfo, filter: TensorInfo, g: ConvGeometry): TensorInfo {
  const [, H, W] = g.inShape;
  const ph = phasePlan(H, g.filterHeight, g.dilations[0], g.strides[0], g.outHeight, g.padTop);
  const pw = phasePlan(W, g.filterWidth, g.dilations[1], g.strides[1], g.outWidth, g.padLeft);
  // Cropping is a copy (Slice); padding is left to the conv, which reads zeros there without a copy.
  const crop = (p: [number, number]): [number, number] => [Math.min(0, p[0]), Math.min(0, p[1])];
  const pad = (p: [number, number]): [number, number] => [Math.max(0, p[0]), Math.max(0, p[1])];
  const dyC = s.padOrCrop(dy, [[0, 0], crop(ph.pad), crop(pw.pad), [0, 0]]);
  const y = s.run('Conv2D', { x: dyC, filter: phaseFilter(s, filter, ph, pw) }, {
    strides: [1, 1], dilations: [ph.dil, pw.dil], pad: [[0, 0], pad(ph.pad), pad(pw.pad), [0, 0]], dataFormat: 'NHWC', dimRoundingMode: undefined,
  } as never);
  if (ph.stride === 1 && pw.stride === 1) return y;
  return interleavePhases(s, y, ph.stride, pw.stride, H, W);
}

// Depthwise gradients: the input gradient still correlates a zero-dilated dy (depthwise convs are rare here).

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

/** w [kh,kw,a,b] with both spatial axes reversed, in one pass over the WASM heap (the Reverse kernel is slow). */
function flipSpatial(s: KernelScope, w: TensorInfo): TensorInfo {
  const [kh, kw, a, b] = w.shape;
  const out = s.alloc([kh, kw, a, b]);
  const src = s.heap(w);
  const dst = s.heap(out);
  const block = a * b;
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const from = ((kh - 1 - i) * kw + (kw - 1 - j)) * block;
      dst.set(src.subarray(from, from + block), (i * kw + j) * block);
    }
  }
  return out;
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
  const flipped = flipSpatial(s, filter); // [kh, kw, C, m]
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

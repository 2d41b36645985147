// Pillow's antialiased resampling (libImaging/Resample.c) on float images, as clean-fid's "clean" resize does it
// (Parmar et al. 2022, "On Aliased Resizing and Surprising Subtleties in GAN Evaluation"): each channel is a
// mode-'F' image resized with Image.BICUBIC.
//   scale = in / out, filterscale = max(scale, 1), support = 2·filterscale (bicubic, a = −0.5)
//   output pixel x takes inputs xmin..xmax around center = (x + 0.5)·scale with weights
//   w = k((i − center + 0.5) / filterscale), normalised to sum 1 (the filter widens when downscaling: antialias)
//   horizontal pass first, kept in float32, then the vertical pass; sums in float64, results rounded to float32.

const A = -0.5;

/** Pillow's bicubic kernel (a = −0.5). */
function bicubic(x: number): number {
  const t = Math.abs(x);
  if (t < 1) return ((A + 2) * t - (A + 3)) * t * t + 1;
  if (t < 2) return (((t - 5) * t + 8) * t - 4) * A;
  return 0;
}

interface Coeffs {
  start: Int32Array; // first input index per output
  count: Int32Array; // inputs per output
  weights: Float64Array; // [out, ksize]
  ksize: number;
}

function coefficients(inSize: number, outSize: number): Coeffs {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = 2 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * ksize);
  for (let x = 0; x < outSize; x++) {
    const center = (x + 0.5) * scale;
    const ss = 1 / filterscale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0;
    for (let i = 0; i < xmax; i++) {
      const w = bicubic((i + xmin - center + 0.5) * ss);
      weights[x * ksize + i] = w;
      ww += w;
    }
    if (ww !== 0) for (let i = 0; i < xmax; i++) weights[x * ksize + i] /= ww;
    start[x] = xmin;
    count[x] = xmax;
  }
  return { start, count, weights, ksize };
}

/**
 * [H, W, C] float (any range) → [outH, outW, C] float32, every channel resized as Pillow resizes a mode-'F'
 * image with BICUBIC (antialiased). No clipping here.
 */
export function resizeBicubicAntialias(src: ArrayLike<number>, h: number, w: number, c: number, outH: number, outW: number): Float32Array {
  let cur: Float32Array = Float32Array.from(src);
  let curW = w;
  if (outW !== w) {
    const k = coefficients(w, outW);
    const out = new Float32Array(h * outW * c);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < outW; x++) {
        const s0 = k.start[x];
        const kw = x * k.ksize;
        for (let ch = 0; ch < c; ch++) {
          let s = 0;
          for (let i = 0; i < k.count[x]; i++) s += cur[(y * w + s0 + i) * c + ch] * k.weights[kw + i];
          out[(y * outW + x) * c + ch] = s;
        }
      }
    }
    cur = out;
    curW = outW;
  }
  if (outH !== h) {
    const k = coefficients(h, outH);
    const out = new Float32Array(outH * curW * c);
    for (let y = 0; y < outH; y++) {
      const s0 = k.start[y];
      const ky = y * k.ksize;
      for (let x = 0; x < curW; x++) {
        for (let ch = 0; ch < c; ch++) {
          let s = 0;
          for (let i = 0; i < k.count[y]; i++) s += cur[((s0 + i) * curW + x) * c + ch] * k.weights[ky + i];
          out[(y * curW + x) * c + ch] = s;
        }
      }
    }
    cur = out;
  }
  return cur;
}

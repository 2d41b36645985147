// Training-time augmentation and batch assembly, on uint8 HWC images in plain JS (cheap beside the
// network; keeps every random draw on the seeded Rng, identical on every backend).
//
// - Random crop with padding: pad each side by P pixels and crop back to H×W at a uniformly drawn
//   offset (torchvision RandomCrop(size, padding=P)). Padding is zero (black) by default, matching
//   the black background of Fashion-MNIST-like data and torchvision's default; 'reflect' mirrors
//   the border without repeating the edge pixel (numpy/torch 'reflect').
// - Horizontal flip with probability ½ (--flip).
// - mixup (Zhang et al. 2018, "mixup: Beyond Empirical Risk Minimization"): one λ ~ Beta(α, α) per
//   batch; x ← λ·x + (1−λ)·x[π], targets likewise, π a seeded random permutation.
// - Label smoothing (Szegedy et al. 2016): targets (1−ε)·onehot + ε/K.
import type { Rng } from '../util/rng.js';
import { toTensorInput, type Normalization } from '../images/tensor.js';

export type PadMode = 'zero' | 'reflect';
export const PAD_MODES: readonly PadMode[] = ['zero', 'reflect'];

export interface AugmentOptions {
  cropPadding: number;
  padMode: PadMode;
  flip: boolean;
  /** mixup α; 0 turns mixup off. */
  mixup: number;
  labelSmoothing: number;
}

export const NO_AUGMENT: AugmentOptions = { cropPadding: 0, padMode: 'zero', flip: false, mixup: 0, labelSmoothing: 0 };

/** Mirror index i into [0, n) without repeating the edge ('reflect'): −1 → 1, n → n−2. */
function reflect(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let j = ((i % period) + period) % period;
  if (j >= n) j = period - j;
  return j;
}

/**
 * The crop of `src` (HWC) shifted by (dy, dx) ∈ [−P, P]² out of its padded version, optionally
 * mirrored left–right: out[y, x] = padded[y + dy, (flip ? W−1−x : x) + dx].
 */
export function cropFlip(src: Uint8Array, h: number, w: number, c: number, dy: number, dx: number, flip: boolean, mode: PadMode): Uint8Array {
  const out = new Uint8Array(h * w * c);
  for (let y = 0; y < h; y++) {
    let sy = y + dy;
    if (sy < 0 || sy >= h) {
      if (mode === 'zero') continue; // row stays black
      sy = reflect(sy, h);
    }
    for (let x = 0; x < w; x++) {
      let sx = (flip ? w - 1 - x : x) + dx;
      if (sx < 0 || sx >= w) {
        if (mode === 'zero') continue;
        sx = reflect(sx, w);
      }
      const o = (y * w + x) * c;
      const s = (sy * w + sx) * c;
      for (let k = 0; k < c; k++) out[o + k] = src[s + k];
    }
  }
  return out;
}

/** Gamma(shape, 1) by Marsaglia & Tsang (2000); shape < 1 through Gamma(shape + 1)·U^(1/shape). */
export function sampleGamma(shape: number, rng: Rng): number {
  if (shape < 1) {
    let u = 0;
    while (u === 0) u = rng.random();
    return sampleGamma(shape + 1, rng) * u ** (1 / shape);
  }
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng.random();
    if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** Beta(a, b) as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b). */
export function sampleBeta(a: number, b: number, rng: Rng): number {
  const x = sampleGamma(a, rng);
  const y = sampleGamma(b, rng);
  return x + y > 0 ? x / (x + y) : 0.5;
}

export interface Batch {
  /** Normalised pixels, [B, H, W, C]. */
  x: Float32Array;
  /** Soft targets, [B, K] (label smoothing and mixup applied). */
  targets: Float32Array;
  /** Hard labels [B] (the λ-dominant one under mixup), for the running accuracy. */
  labels: Int32Array;
  size: number;
}

/**
 * Builds a batch: augmentation (draws in a fixed order per image: dy, dx, flip; then per batch: λ, π),
 * normalisation (toTensorInput: (v/255 − mean) / std per channel), and the targets.
 */
export function makeBatch(
  images: readonly Uint8Array[],
  labels: readonly number[],
  shape: [number, number, number],
  numClasses: number,
  norm: Normalization,
  aug: AugmentOptions,
  rng: Rng,
): Batch {
  const [h, w, c] = shape;
  const B = images.length;
  const size = h * w * c;
  const pixels = new Uint8Array(B * size); // [B, H, W, C]
  const p = aug.cropPadding;
  for (let b = 0; b < B; b++) {
    let img = images[b];
    const dy = p > 0 ? rng.int(2 * p + 1) - p : 0;
    const dx = p > 0 ? rng.int(2 * p + 1) - p : 0;
    const flip = aug.flip ? rng.random() < 0.5 : false;
    if (dy !== 0 || dx !== 0 || flip) img = cropFlip(img, h, w, c, dy, dx, flip, aug.padMode);
    pixels.set(img, b * size);
  }
  const x = toTensorInput(pixels, c, norm);
  const K = numClasses;
  const eps = aug.labelSmoothing;
  const targets = new Float32Array(B * K).fill(eps / K);
  for (let b = 0; b < B; b++) targets[b * K + labels[b]] += 1 - eps;
  const hard = Int32Array.from(labels);
  if (aug.mixup > 0 && B > 1) {
    const lam = sampleBeta(aug.mixup, aug.mixup, rng);
    const perm = rng.shuffle(Array.from({ length: B }, (_, i) => i));
    const x0 = x.slice();
    const t0 = targets.slice();
    for (let b = 0; b < B; b++) {
      const o = b * size;
      const q = perm[b] * size;
      for (let i = 0; i < size; i++) x[o + i] = lam * x0[o + i] + (1 - lam) * x0[q + i];
      for (let k = 0; k < K; k++) targets[b * K + k] = lam * t0[b * K + k] + (1 - lam) * t0[perm[b] * K + k];
      if (lam < 0.5) hard[b] = labels[perm[b]];
    }
  }
  return { x, targets, labels: hard, size: B };
}

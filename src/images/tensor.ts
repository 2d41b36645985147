// Pixels ↔ network values: the one place where uint8 images become the float tensors a network
// reads, and where a network's float output becomes uint8 pixels again. Training, feature extraction
// and sampling all go through it, so a classifier sees at test time exactly what it saw in training,
// and generated images are quantised one way.
//
// Layout is unchanged by the mapping: row-major HWC (or a batch of them, [B, H, W, C]), channel index
// = element index mod C. Values, per channel c, on the [0, 1] pixel scale (torchvision's
// ToTensor followed by Normalize(mean, std)):
//   forward   x = (v / 255 − mean[c]) / std[c]
//   inverse   v = clamp(round((x · std[c] + mean[c]) · 255), 0, 255), halves rounded up
// The [−1, 1] range of diffusion models is the special case mean = std = ½: x = 2v/255 − 1.
// Kept free of TensorFlow.js and sharp: the results are plain arrays for `tf.tensor4d(x, shape)`.

/**
 * Per-channel statistics of [0, 1] pixels. Each list holds one value per channel, or a single value
 * that applies to every channel.
 */
export interface Normalization {
  mean: number[];
  std: number[];
}

/** x = v / 255 ∈ [0, 1]. */
export const UNIT_RANGE: Normalization = { mean: [0], std: [1] };

/** x = 2v / 255 − 1 ∈ [−1, 1], the range diffusion models are trained in (DDPM, Ho et al. 2020, §3.3). */
export const SIGNED_UNIT_RANGE: Normalization = { mean: [0.5], std: [0.5] };

/** uint8 [..., C] → float32 (v/255 − mean[c]) / std[c], same layout. */
export function toTensorInput(images: Uint8Array, channels: number, norm: Normalization): Float32Array {
  const { scale, shift } = affine(channels, norm);
  const out = new Float32Array(images.length);
  for (let i = 0; i < images.length; i++) {
    const c = i % channels;
    out[i] = images[i] * scale[c] - shift[c];
  }
  return out;
}

/**
 * The inverse of toTensorInput: float [..., C] → uint8 (x·std[c] + mean[c])·255, rounded (halves up)
 * and clamped to [0, 255]. NaN becomes 0.
 */
export function fromTensorOutput(x: ArrayLike<number>, channels: number, norm: Normalization): Uint8Array {
  const { mean, std } = perChannel(channels, norm);
  const out = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const c = i % channels;
    const v = Math.floor((x[i] * std[c] + mean[c]) * 255 + 0.5);
    out[i] = v > 255 ? 255 : v > 0 ? v : 0; // NaN fails both tests → 0
  }
  return out;
}

/** uint8 → float32 2v/255 − 1 ∈ [−1, 1] (any layout). */
export function toSignedUnit(images: Uint8Array): Float32Array {
  return toTensorInput(images, 1, SIGNED_UNIT_RANGE);
}

/** float in [−1, 1] → uint8 round((x + 1)·127.5), clamped (any layout). */
export function fromSignedUnit(x: ArrayLike<number>): Uint8Array {
  return fromTensorOutput(x, 1, SIGNED_UNIT_RANGE);
}

/**
 * Per-channel mean and standard deviation (population, ÷N) of [0, 1] pixels over some HWC images, for
 * toTensorInput. A constant channel gets std 1e-3 instead of 0, so that normalising never divides by zero.
 */
export function channelStats(images: readonly Uint8Array[], channels: number): Normalization {
  const sum = new Float64Array(channels);
  const sq = new Float64Array(channels);
  let n = 0;
  for (const img of images) {
    for (let i = 0; i < img.length; i++) {
      const v = img[i] / 255;
      sum[i % channels] += v;
      sq[i % channels] += v * v;
    }
    n += img.length / channels;
  }
  const mean = Array.from(sum, (s) => (n > 0 ? s / n : 0.5));
  const std = Array.from(sq, (q, c) => Math.max(1e-3, Math.sqrt(Math.max(0, (n > 0 ? q / n : 0.25) - mean[c] ** 2))));
  return { mean, std };
}

/** mean and std with one entry per channel (a single value broadcast); a RangeError otherwise. */
function perChannel(channels: number, norm: Normalization): Normalization {
  if (!Number.isInteger(channels) || channels < 1) throw new RangeError(`channels must be a positive integer, got ${channels}`);
  const expand = (name: string, v: number[]): number[] => {
    if (v.length === channels) return v;
    if (v.length === 1) return new Array<number>(channels).fill(v[0]);
    throw new RangeError(`normalization ${name} has ${v.length} values for ${channels} channels`);
  };
  const std = expand('std', norm.std);
  if (std.some((s) => !(s > 0))) throw new RangeError(`normalization std must be positive, got [${std.join(', ')}]`);
  return { mean: expand('mean', norm.mean), std };
}

/** x = v·scale[c] − shift[c] with scale = 1/(255·std), shift = mean/std. */
function affine(channels: number, norm: Normalization): { scale: number[]; shift: number[] } {
  const { mean, std } = perChannel(channels, norm);
  return { scale: std.map((s) => 1 / (255 * s)), shift: mean.map((m, c) => m / std[c]) };
}

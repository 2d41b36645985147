// Classifier-free guidance (Ho & Salimans 2022, eq. 6, in the paper's convention of Azizi et al. 2023):
//   ε̃ = ε_u + w·(ε_c − ε_u)
// w = 1 is the plain conditional model, w = 0 the unconditional one, w > 1 pushes samples towards their class.
// For a fixed x and σ, ε = (x − x̂₀)/σ is affine in x̂₀ with the same coefficients for both passes, so the
// same combination of the denoiser's x̂₀ estimates is the same guidance: x̃₀ = x̂₀_u + w·(x̂₀_c − x̂₀_u).
import * as tf from '@tensorflow/tfjs-core';
import type { Denoiser } from './denoiser.js';
import type { DenoiseFn } from './samplers.js';

/**
 * A DenoiseFn for a batch with fixed class labels [B] and guidance weight w. For w ∉ {0, 1} the conditional
 * and the unconditional pass run as one network batch of 2B (labels, then B null labels); w = 1 needs only
 * the conditional pass and w = 0 only the unconditional one. `maxBatch` caps the images of one network call
 * (the batch is split into calls of at most that many, each freed before the next): a network's forward pass
 * holds all its activations until it returns, so this bounds memory whatever B is. Each image's x̂₀ does not
 * depend on the others in its call, so the split does not change the result.
 */
export function guidedDenoiser(denoiser: Denoiser, labels: ArrayLike<number>, guidance: number, maxBatch = Infinity): DenoiseFn {
  const batch = labels.length;
  for (let i = 0; i < batch; i++) {
    if (!Number.isInteger(labels[i]) || labels[i] < 0 || labels[i] > denoiser.numClasses) {
      throw new RangeError(`class label ${labels[i]} is outside 0..${denoiser.numClasses}`);
    }
  }
  const nullLabels = new Int32Array(batch).fill(denoiser.numClasses);
  const single = guidance === 1 ? Int32Array.from(labels) : guidance === 0 ? nullLabels : null;
  const y = single ?? Int32Array.from([...Array.from(labels), ...nullLabels]); // [B] or [2B]
  return (x, sigma) => {
    if (x.shape[0] !== batch) throw new RangeError(`the guided denoiser was made for ${batch} images, not ${x.shape[0]}`);
    const input = single === null ? tf.concat([x, x]) : x; // [B or 2B, H, W, C]
    try {
      const out = denoiseInChunks(denoiser, input, sigma, y, maxBatch);
      if (single !== null) return out;
      return tf.tidy(() => {
        const [cond, uncond] = tf.split(out, 2);
        out.dispose();
        return tf.add(uncond, tf.mul(tf.sub(cond, uncond), guidance)) as tf.Tensor4D;
      });
    } finally {
      if (input !== x) input.dispose();
    }
  };
}

/** denoiser.denoise over x [N, H, W, C] in calls of at most maxBatch images, concatenated. */
function denoiseInChunks(denoiser: Denoiser, x: tf.Tensor4D, sigma: number, y: Int32Array, maxBatch: number): tf.Tensor4D {
  const n = x.shape[0];
  const step = Math.max(1, Math.min(n, maxBatch));
  const parts: tf.Tensor4D[] = [];
  try {
    for (let start = 0; start < n; start += step) {
      const size = Math.min(step, n - start);
      parts.push(
        tf.tidy(() => {
          const chunk = size === n ? x : tf.slice(x, [start, 0, 0, 0], [size, -1, -1, -1]);
          return denoiser.denoise(chunk, tf.fill([size], sigma) as tf.Tensor1D, tf.tensor1d(y.subarray(start, start + size), 'int32'));
        }),
      );
    }
    return parts.length === 1 ? parts[0] : tf.concat(parts);
  } finally {
    if (parts.length > 1) tf.dispose(parts);
  }
}

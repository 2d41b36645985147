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
 * and the unconditional pass run as one network call on a batch of 2B (labels, then B null labels);
 * w = 1 needs only the conditional pass and w = 0 only the unconditional one.
 */
export function guidedDenoiser(denoiser: Denoiser, labels: ArrayLike<number>, guidance: number): DenoiseFn {
  const batch = labels.length;
  const nullLabels = new Int32Array(batch).fill(denoiser.numClasses);
  for (let i = 0; i < batch; i++) {
    if (!Number.isInteger(labels[i]) || labels[i] < 0 || labels[i] > denoiser.numClasses) {
      throw new RangeError(`class label ${labels[i]} is outside 0..${denoiser.numClasses}`);
    }
  }
  const single = guidance === 1 ? Int32Array.from(labels) : guidance === 0 ? nullLabels : null;
  const both = single === null ? Int32Array.from([...Array.from(labels), ...nullLabels]) : null;
  return (x, sigma) =>
    tf.tidy(() => {
      if (x.shape[0] !== batch) throw new RangeError(`the guided denoiser was made for ${batch} images, not ${x.shape[0]}`);
      if (single !== null) {
        return denoiser.denoise(x, tf.fill([batch], sigma) as tf.Tensor1D, tf.tensor1d(single, 'int32'));
      }
      const out = denoiser.denoise(
        tf.concat([x, x]),
        tf.fill([2 * batch], sigma) as tf.Tensor1D,
        tf.tensor1d(both as Int32Array, 'int32'),
      ); // [2B, H, W, C]: conditional, then unconditional
      const [cond, uncond] = tf.split(out, 2);
      return tf.add(uncond, tf.mul(tf.sub(cond, uncond), guidance)) as tf.Tensor4D;
    });
}

// The DDPM training objective (Ho et al. 2020, Algorithm 1, "L_simple"): draw t ~ U{0..T−1} and
// ε ~ N(0, I), form x_t = √ᾱ_t·x_0 + √(1−ᾱ_t)·ε, and regress the network's ε prediction on ε (MSE).
// Labels are replaced by the null class with probability pUncond, which trains the unconditional
// model needed for classifier-free guidance (Ho & Salimans 2022, Algorithm 1).
import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../util/rng.js';
import type { NoiseSchedule } from './schedule.js';
import type { DenoiseContext } from '../models/unet.js';

/** Any ε-prediction network: x_t [B, H, W, C] with t, y in the context → ε̂ [B, H, W, C]. */
export interface NoisePredictor {
  forward(x: tf.Tensor, ctx: DenoiseContext): tf.Tensor;
}

/** The random draws of one training batch, made on the host from the seeded Rng. */
export interface DiffusionDraw {
  t: Int32Array; // [B]
  noise: Float32Array; // [B·H·W·C]
  y: Int32Array; // [B], null class where dropped
}

/** Draws t, ε and the label dropout for a batch of shape [B, H, W, C]. */
export function drawTrainingNoise(
  shape: [number, number, number, number],
  labels: ArrayLike<number>,
  opts: { schedule: NoiseSchedule; numClasses: number; pUncond: number },
  rng: Rng,
): DiffusionDraw {
  const batch = shape[0];
  const t = Int32Array.from({ length: batch }, () => rng.int(opts.schedule.steps));
  const noise = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < noise.length; i++) noise[i] = rng.normal();
  const y = Int32Array.from({ length: batch }, (_, i) => (rng.random() < opts.pUncond ? opts.numClasses : labels[i]));
  return { t, noise, y };
}

/**
 * L_simple for a batch x0 [B, H, W, C] (in the model's data range, e.g. [-1, 1]) and given draws.
 * Returns a scalar to differentiate (call inside tf.variableGrads).
 */
export function noisePredictionLoss(model: NoisePredictor, x0: tf.Tensor, draw: DiffusionDraw, schedule: NoiseSchedule, training = true): tf.Scalar {
  return tf.tidy(() => {
    const b = x0.shape[0];
    const sa = new Float32Array(b);
    const sn = new Float32Array(b);
    for (let i = 0; i < b; i++) {
      const ab = schedule.alphasCumprod[draw.t[i]];
      sa[i] = Math.sqrt(ab);
      sn[i] = Math.sqrt(1 - ab);
    }
    const noise = tf.tensor(draw.noise, x0.shape);
    const xt = tf.add(tf.mul(x0, tf.tensor4d(sa, [b, 1, 1, 1])), tf.mul(noise, tf.tensor4d(sn, [b, 1, 1, 1])));
    const t = tf.tensor1d(draw.t, 'int32');
    const y = tf.tensor1d(draw.y, 'int32');
    const eps = model.forward(xt, { training, t, y });
    return tf.mean(tf.squaredDifference(eps, noise)) as tf.Scalar;
  });
}

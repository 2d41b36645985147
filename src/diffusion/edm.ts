// The EDM formulation of diffusion training (Karras et al. 2022, "Elucidating the Design Space of
// Diffusion-Based Generative Models", Table 1 and §5), the default of `finetune`:
//
//   D(x; σ, y) = c_skip(σ)·x + c_out(σ)·F(c_in(σ)·x; c_noise(σ), y)        (eq. 7)
//   c_skip = σ_d² / (σ² + σ_d²)      c_out = σ·σ_d / √(σ² + σ_d²)
//   c_in   = 1 / √(σ² + σ_d²)        c_noise = ¼·ln σ
//   loss   = E_{σ, y, n} [ λ(σ) · ‖D(y + n; σ) − y‖² ],  λ(σ) = (σ² + σ_d²) / (σ·σ_d)²   (eq. 8)
//   ln σ ~ N(P_mean, P_std²), P_mean = −1.2, P_std = 1.2, σ_d = 0.5
//
// F is the U-Net; the squared error is averaged over pixels and batch. With λ·c_out² = 1 the loss is
// the plain MSE of F against the effective target (y − c_skip·x)/c_out, so every σ contributes a
// unit-variance regression. Labels are replaced by the null class with probability 0.1, which
// trains the unconditional model classifier-free guidance needs (Ho & Salimans 2022, Algorithm 1).
// The preconditioned network is the `Denoiser` the samplers take (edmDenoiser).
import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../util/rng.js';
import type { Denoiser } from './denoiser.js';
import type { NoisePredictor } from './loss.js';

/** The constants of the EDM formulation, as stored in a diffusion model's config.json. */
export interface EdmConstants {
  /** Standard deviation of the training data, σ_d (images in [−1, 1]). */
  sigmaData: number;
  /** Log-normal training noise: ln σ ~ N(pMean, pStd²). */
  pMean: number;
  pStd: number;
  /** Noise range for sampling (EDM §3: σ_min 0.002, σ_max 80). */
  sigmaMin: number;
  sigmaMax: number;
  /** Probability of training a sample with the null class (label dropout for guidance). */
  pUncond: number;
}

export const EDM_DEFAULTS: EdmConstants = { sigmaData: 0.5, pMean: -1.2, pStd: 1.2, sigmaMin: 0.002, sigmaMax: 80, pUncond: 0.1 };

/** The preconditioning coefficients of EDM Table 1 at noise level σ. */
export function edmPreconditioning(sigma: number, sigmaData: number): { cSkip: number; cOut: number; cIn: number; cNoise: number } {
  const s2 = sigma * sigma + sigmaData * sigmaData;
  return {
    cSkip: (sigmaData * sigmaData) / s2,
    cOut: (sigma * sigmaData) / Math.sqrt(s2),
    cIn: 1 / Math.sqrt(s2),
    cNoise: Math.log(sigma) / 4,
  };
}

/** EDM's loss weight λ(σ) = (σ² + σ_d²) / (σ·σ_d)² (eq. 8 with Table 1). */
export function edmLossWeight(sigma: number, sigmaData: number): number {
  return (sigma * sigma + sigmaData * sigmaData) / (sigma * sigmaData) ** 2;
}

/** The random draws of one EDM training batch, made on the host from a seeded Rng. */
export interface EdmDraw {
  sigma: Float32Array; // [B]
  noise: Float32Array; // [B·H·W·C], standard normal (scaled by σ in the loss)
  y: Int32Array; // [B], the null class numClasses where dropped
}

/** Draws σ (log-normal), n and the label dropout for a batch of shape [B, H, W, C]. */
export function drawEdmNoise(
  shape: [number, number, number, number],
  labels: ArrayLike<number>,
  opts: { numClasses: number; constants: EdmConstants },
  rng: Rng,
): EdmDraw {
  const [batch] = shape;
  const { pMean, pStd, pUncond } = opts.constants;
  const sigma = Float32Array.from({ length: batch }, () => Math.exp(pMean + pStd * rng.normal()));
  const noise = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < noise.length; i++) noise[i] = rng.normal();
  const y = Int32Array.from({ length: batch }, (_, i) => (rng.random() < pUncond ? opts.numClasses : labels[i]));
  return { sigma, noise, y };
}

/** Per-sample coefficients as [B, 1, 1, 1] tensors, and c_noise as [B]. */
function coefficients(sigma: ArrayLike<number>, sigmaData: number) {
  const b = sigma.length;
  const cs = { cSkip: new Float32Array(b), cOut: new Float32Array(b), cIn: new Float32Array(b), cNoise: new Float32Array(b) };
  for (let i = 0; i < b; i++) {
    const c = edmPreconditioning(sigma[i], sigmaData);
    cs.cSkip[i] = c.cSkip;
    cs.cOut[i] = c.cOut;
    cs.cIn[i] = c.cIn;
    cs.cNoise[i] = c.cNoise;
  }
  const col = (v: Float32Array) => tf.tensor4d(v, [b, 1, 1, 1]);
  return { cSkip: col(cs.cSkip), cOut: col(cs.cOut), cIn: col(cs.cIn), cNoise: tf.tensor1d(cs.cNoise) };
}

/** D(x; σ, y) = c_skip·x + c_out·F(c_in·x; c_noise, y) for host-side σ values (eq. 7). */
function precondition(net: NoisePredictor, x: tf.Tensor, sigma: ArrayLike<number>, y: tf.Tensor, sigmaData: number, training: boolean, dropoutSeed?: number): tf.Tensor {
  const c = coefficients(sigma, sigmaData);
  const f = net.forward(tf.mul(x, c.cIn), { training, dropoutSeed, t: c.cNoise, y });
  return tf.add(tf.mul(x, c.cSkip), tf.mul(f, c.cOut));
}

/**
 * EDM's training loss for a batch x0 [B, H, W, C] in [−1, 1] and given draws:
 * mean over batch and pixels of λ(σ)·(D(x0 + σ·n; σ, y) − x0)². A scalar to differentiate.
 * `dropoutSeed` fixes the network's dropout masks (see ForwardContext).
 */
export function edmLoss(net: NoisePredictor, x0: tf.Tensor, draw: EdmDraw, constants: Pick<EdmConstants, 'sigmaData'>, training = true, dropoutSeed?: number): tf.Scalar {
  return tf.tidy(() => {
    const b = x0.shape[0];
    const sigmaCol = tf.tensor4d(draw.sigma, [b, 1, 1, 1]);
    const x = tf.add(x0, tf.mul(tf.tensor(draw.noise, x0.shape), sigmaCol));
    const d = precondition(net, x, draw.sigma, tf.tensor1d(draw.y, 'int32'), constants.sigmaData, training, dropoutSeed);
    const weight = tf.tensor4d(Float32Array.from(draw.sigma, (s) => edmLossWeight(s, constants.sigmaData)), [b, 1, 1, 1]);
    return tf.mean(tf.mul(tf.squaredDifference(d, x0), weight)) as tf.Scalar;
  });
}

/**
 * The trained network as a Denoiser for the samplers: eval mode (no dropout), σ read back to the host
 * to form the coefficients (a batch holds at most a few hundred σ values).
 */
export function edmDenoiser(
  net: NoisePredictor,
  o: { numClasses: number; imageShape: [number, number, number]; constants: EdmConstants },
): Denoiser {
  const { sigmaData, sigmaMin, sigmaMax } = o.constants;
  return {
    numClasses: o.numClasses,
    imageShape: [...o.imageShape] as [number, number, number],
    sigmaMin,
    sigmaMax,
    sigmaData,
    denoise(x: tf.Tensor4D, sigma: tf.Tensor1D, y: tf.Tensor1D): tf.Tensor4D {
      const s = sigma.dataSync();
      if (s.length !== x.shape[0] || y.size !== x.shape[0]) {
        throw new Error(`denoise: ${x.shape[0]} images but ${s.length} noise levels and ${y.size} labels`);
      }
      return tf.tidy(() => precondition(net, x, s, tf.cast(y, 'int32'), sigmaData, false) as tf.Tensor4D);
    },
  };
}

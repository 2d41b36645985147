// The one interface between a trained diffusion model and the samplers, in the notation of EDM
// (Karras et al. 2022, §2): a denoiser D(x; σ, y) returns its estimate of the clean image x₀ from
// x = x₀ + σ·n. Training (src/diffusion/edm.ts) wraps the U-Net with the preconditioning of EDM
// Table 1 to make one; the samplers take any Denoiser, so a closed-form denoiser of a Gaussian
// stands in for the network in their tests.
import type * as tf from '@tensorflow/tfjs-core';

export interface Denoiser {
  /** Real classes; label `numClasses` is the null class (unconditional), as in the U-Net's class table. */
  readonly numClasses: number;
  /** Image shape [H, W, C] of x. */
  readonly imageShape: [number, number, number];
  /** Noise range the model was trained for, and the data's standard deviation σ_data. */
  readonly sigmaMin: number;
  readonly sigmaMax: number;
  readonly sigmaData: number;
  /**
   * x [B, H, W, C] float32 in the data range [−1, 1] plus noise; sigma [B] float32 (> 0);
   * y [B] int32 in [0, numClasses]. Returns x̂₀ [B, H, W, C]. Inputs are not disposed.
   */
  denoise(x: tf.Tensor4D, sigma: tf.Tensor1D, y: tf.Tensor1D): tf.Tensor4D;
}

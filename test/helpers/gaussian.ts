// Data whose ideal denoiser is known in closed form, for testing samplers against an exact answer.
// A mixture of Gaussians with weights π_k, means μ_k and covariances Σ_k = U_k diag(λ_k) U_kᵀ, in d
// dimensions (images of shape [1, 1, d]). At noise level σ, x = x₀ + σ·n is distributed as the mixture
// with covariances Σ_k + σ²I, and the minimum-MSE denoiser is (e.g. Karras et al. 2022, Appendix B.3)
//   D(x; σ) = Σ_k r_k(x) · (μ_k + Σ_k (Σ_k + σ²I)⁻¹ (x − μ_k)),   r_k ∝ π_k N(x; μ_k, Σ_k + σ²I).
// Class k conditions on component k; the null class (label = number of components) is the whole mixture.
import * as tf from '@tensorflow/tfjs-core';
import type { Denoiser } from '../../src/diffusion/denoiser.js';
import { Rng } from '../../src/util/rng.js';

export interface Component {
  weight: number;
  mean: number[];
  /** Orthonormal basis, rows are eigenvectors: U_kᵀ as a d×d row-major list of rows. */
  basis: number[][];
  /** Eigenvalues λ (variances along the basis rows). */
  variances: number[];
}

/** A d×d rotation (rows orthonormal) from angles in the planes (0,1), (1,2), … */
export function rotation(d: number, angles: number[]): number[][] {
  const identity = () => Array.from({ length: d }, (_, i) => Array.from({ length: d }, (_, j) => (i === j ? 1 : 0) as number));
  let m = identity();
  angles.forEach((a, p) => {
    const [i, j] = [p % d, (p + 1) % d];
    const g = identity();
    [g[i][i], g[i][j], g[j][i], g[j][j]] = [Math.cos(a), -Math.sin(a), Math.sin(a), Math.cos(a)];
    m = m.map((row) => g[0].map((_, c) => row.reduce((s, v, k) => s + v * g[k][c], 0)));
  });
  return m;
}

/** Mean and covariance of the mixture, in float64: Σ π_k μ_k and Σ π_k (Σ_k + μ_k μ_kᵀ) − μ μᵀ. */
export function mixtureMoments(components: Component[]): { mean: number[]; cov: number[][] } {
  const d = components[0].mean.length;
  const mean = Array.from({ length: d }, (_, i) => components.reduce((s, c) => s + c.weight * c.mean[i], 0));
  const cov = Array.from({ length: d }, (_, i) =>
    Array.from({ length: d }, (_, j) =>
      components.reduce((s, c) => {
        const sigma = c.variances.reduce((t, lam, e) => t + lam * c.basis[e][i] * c.basis[e][j], 0);
        return s + c.weight * (sigma + c.mean[i] * c.mean[j]);
      }, 0) - mean[i] * mean[j],
    ),
  );
  return { mean, cov };
}

/** The exact denoiser of a Gaussian mixture, as a Denoiser on images of shape [1, 1, d]. */
export function mixtureDenoiser(components: Component[], sigmaMin = 0.002, sigmaMax = 80): Denoiser & { calls: number[] } {
  const d = components[0].mean.length;
  const calls: number[] = [];
  return {
    numClasses: components.length,
    imageShape: [1, 1, d],
    sigmaMin,
    sigmaMax,
    sigmaData: 1,
    calls,
    denoise(x, sigma, y) {
      calls.push(x.shape[0]);
      const [xs, sig, labels] = [x.dataSync(), sigma.dataSync(), y.dataSync()];
      const b = x.shape[0];
      const out = new Float32Array(b * d);
      const post = new Float64Array(components.length); // r_k, then the weights used
      const means = components.map(() => new Float64Array(d));
      for (let r = 0; r < b; r++) {
        const s2 = sig[r] * sig[r];
        components.forEach((c, k) => {
          let quad = 0;
          means[k].set(c.mean);
          c.variances.forEach((lam, e) => {
            let coord = 0; // (x − μ_k) along eigenvector e
            for (let i = 0; i < d; i++) coord += (xs[r * d + i] - c.mean[i]) * c.basis[e][i];
            quad += (coord * coord) / (lam + s2) + Math.log(lam + s2);
            for (let i = 0; i < d; i++) means[k][i] += ((coord * lam) / (lam + s2)) * c.basis[e][i];
          });
          post[k] = Math.log(c.weight) - quad / 2;
        });
        if (labels[r] === components.length) {
          const top = Math.max(...post);
          let total = 0;
          for (let k = 0; k < post.length; k++) total += post[k] = Math.exp(post[k] - top);
          for (let k = 0; k < post.length; k++) post[k] /= total;
        } else {
          post.fill(0);
          post[labels[r]] = 1;
        }
        for (let i = 0; i < d; i++) out[r * d + i] = components.reduce((t, _, k) => t + post[k] * means[k][i], 0);
      }
      return tf.tensor4d(out, x.shape);
    },
  };
}

/** n draws of the mixture blurred to noise level σ (labels give the component of each). */
export function drawNoisy(components: Component[], n: number, sigma: number, rng: Rng, only?: number): { x: Float32Array; labels: Int32Array } {
  const d = components[0].mean.length;
  const x = new Float32Array(n * d);
  const labels = new Int32Array(n);
  for (let s = 0; s < n; s++) {
    let k = only ?? 0;
    if (only === undefined) {
      let u = rng.random();
      while (k < components.length - 1 && u >= components[k].weight) u -= components[k++].weight;
    }
    labels[s] = k;
    const c = components[k];
    const z = c.variances.map((lam) => rng.normal() * Math.sqrt(lam + sigma * sigma));
    for (let i = 0; i < d; i++) x[s * d + i] = c.mean[i] + z.reduce((t, zi, e) => t + zi * c.basis[e][i], 0);
  }
  return { x, labels };
}

/** Sample mean and covariance (N − 1) of rows of a [n, d] array, in float64. */
export function sampleMoments(data: ArrayLike<number>, d: number): { mean: number[]; cov: number[][] } {
  const n = data.length / d;
  const mean = Array.from({ length: d }, (_, i) => {
    let s = 0;
    for (let r = 0; r < n; r++) s += data[r * d + i];
    return s / n;
  });
  const cov = Array.from({ length: d }, (_, i) =>
    Array.from({ length: d }, (_, j) => {
      let s = 0;
      for (let r = 0; r < n; r++) s += (data[r * d + i] - mean[i]) * (data[r * d + j] - mean[j]);
      return s / (n - 1);
    }),
  );
  return { mean, cov };
}

/**
 * A noise source of standard normal tensors of a shape, from a seeded Rng: Box–Muller on two 32-bit
 * uniforms, both outputs used (cheaper than Rng.normal, which matters at 10⁵ draws a step).
 */
export function normalNoise(shape: [number, number, number, number], rng: Rng): () => tf.Tensor4D {
  const size = shape.reduce((a, b) => a * b, 1);
  return () => {
    const out = new Float32Array(size);
    for (let i = 0; i < size; i += 2) {
      const radius = Math.sqrt(-2 * Math.log((rng.nextU32() + 0.5) / 4294967296));
      const angle = (2 * Math.PI * rng.nextU32()) / 4294967296;
      out[i] = radius * Math.cos(angle);
      if (i + 1 < size) out[i + 1] = radius * Math.sin(angle);
    }
    return tf.tensor4d(out, shape);
  };
}

// The Fréchet distance between two Gaussians (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update
// Rule Converge to a Local Nash Equilibrium", eq. 6; Dowson & Landau 1982):
//   d² = |μ1 − μ2|² + tr Σ1 + tr Σ2 − 2 tr √(Σ1 Σ2)
// in float64. tr √(Σ1Σ2) is the sum of the square roots of the eigenvalues of Σ1Σ2, which equal those of the
// symmetric PSD matrix Bᵀ Σ2 B where Σ1 = B Bᵀ (B from a pivoted Cholesky factor, so a singular Σ1 of rank r
// gives an r×r problem). Rounding can leave eigenvalues a hair below zero: they count as zero.
// As pytorch-fid: if the result is not finite, ε = 1e-6 is added to both diagonals and it is computed again.
import { warn } from '../log.js';
import { congruence, pivotedCholesky, symmetricEigenvalues } from './linalg.js';

export interface Gaussian {
  mu: Float64Array; // [D]
  sigma: Float64Array; // [D, D], row-major, symmetric
}

const OFFSET_EPS = 1e-6;

/** tr √(Σ1 Σ2) for symmetric PSD Σ1, Σ2 (n×n). */
export function traceSqrtProduct(sigma1: Float64Array, sigma2: Float64Array, n: number): number {
  const { l, perm, rank } = pivotedCholesky(sigma1, n);
  if (rank === 0) return 0;
  const eig = symmetricEigenvalues(congruence(sigma2, l, perm, n, rank), rank);
  let tr = 0;
  for (const l of eig) tr += l > 0 ? Math.sqrt(l) : 0;
  return tr;
}

export function frechetDistance(a: Gaussian, b: Gaussian): number {
  const d = a.mu.length;
  if (b.mu.length !== d || a.sigma.length !== d * d || b.sigma.length !== d * d) {
    throw new Error(`Fréchet distance of statistics with different dimensions (${a.mu.length} and ${b.mu.length})`);
  }
  let diff = 0;
  for (let i = 0; i < d; i++) diff += (a.mu[i] - b.mu[i]) ** 2;
  let tr1 = 0;
  let tr2 = 0;
  for (let i = 0; i < d; i++) {
    tr1 += a.sigma[i * d + i];
    tr2 += b.sigma[i * d + i];
  }
  let covmean = traceSqrtProduct(a.sigma, b.sigma, d);
  if (!Number.isFinite(covmean)) {
    warn(`the Fréchet distance is not finite for these covariances; adding ${OFFSET_EPS} to their diagonals (as pytorch-fid)`);
    const s1 = Float64Array.from(a.sigma);
    const s2 = Float64Array.from(b.sigma);
    for (let i = 0; i < d; i++) {
      s1[i * d + i] += OFFSET_EPS;
      s2[i * d + i] += OFFSET_EPS;
    }
    covmean = traceSqrtProduct(s1, s2, d);
  }
  return diff + tr1 + tr2 - 2 * covmean;
}

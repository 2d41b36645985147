// Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs", §4): the unbiased estimator of
// the squared MMD with the cubic polynomial kernel k(x, y) = (xᵀy / d + 1)³, averaged over random subsets:
//   MMD²_u = Σ_{i≠j} k(xi, xj) / (m(m−1)) + Σ_{i≠j} k(yi, yj) / (m(m−1)) − 2 Σ_{i,j} k(xi, yj) / m²
// per subset of m rows drawn without replacement from each set (m = min(subsetSize, nx, ny)); reported as the
// mean and the standard deviation (÷ subsets) over the subsets, as torch-fidelity and clean-fid report it.
// Gram matrices are float32 matrix products; the kernel values are summed in float64.
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../util/rng.js';

export interface KidOptions {
  subsets: number;
  subsetSize: number;
  seed: number;
}

/** m distinct indices of [0, n), by a partial Fisher–Yates shuffle. */
export function chooseWithoutReplacement(n: number, m: number, rng: Rng): Int32Array {
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < m; i++) {
    const j = i + rng.int(n - i);
    const t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
  return idx.slice(0, m);
}

function rows(x: Float32Array, d: number, idx: Int32Array): Float32Array {
  const out = new Float32Array(idx.length * d);
  idx.forEach((r, i) => out.set(x.subarray(r * d, (r + 1) * d), i * d));
  return out;
}

/** Σ k over all entries and over the diagonal of the kernel matrix between a [m, d] and b [m, d]. */
function kernelSums(a: tf.Tensor2D, b: tf.Tensor2D, d: number): { all: number; diag: number } {
  const k = tf.tidy(() => tf.pow(tf.add(tf.div(tf.matMul(a, b, false, true), d), 1), 3));
  const v = k.dataSync();
  const m = k.shape[0];
  k.dispose();
  let all = 0;
  let diag = 0;
  for (let i = 0; i < v.length; i++) all += v[i];
  for (let i = 0; i < m; i++) diag += v[i * m + i];
  return { all, diag };
}

/** KID between feature sets x [nx, d] and y [ny, d]: mean and std of MMD²_u over the subsets. */
export function kernelInceptionDistance(x: Float32Array, y: Float32Array, d: number, opts: KidOptions): { mean: number; std: number; subsetSize: number } {
  const nx = x.length / d;
  const ny = y.length / d;
  const m = Math.min(opts.subsetSize, nx, ny);
  if (m < 2) throw new Error(`KID needs at least 2 images on each side (got ${nx} and ${ny})`);
  const rng = new Rng(opts.seed);
  const values: number[] = [];
  for (let s = 0; s < opts.subsets; s++) {
    const xs = tf.tensor2d(rows(x, d, chooseWithoutReplacement(nx, m, rng)), [m, d]);
    const ys = tf.tensor2d(rows(y, d, chooseWithoutReplacement(ny, m, rng)), [m, d]);
    const kxx = kernelSums(xs, xs, d);
    const kyy = kernelSums(ys, ys, d);
    const kxy = kernelSums(xs, ys, d);
    xs.dispose();
    ys.dispose();
    values.push((kxx.all - kxx.diag) / (m * (m - 1)) + (kyy.all - kyy.diag) / (m * (m - 1)) - (2 * kxy.all) / (m * m));
  }
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length);
  return { mean, std, subsetSize: m };
}

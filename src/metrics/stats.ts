// Feature statistics for FID: count, mean and covariance accumulated in float64 in memory independent of the
// number of images (D + D² numbers). Each batch is centred on its own mean and folded in with the pairwise
// update of Chan, Golub & LeVeque (1979):
//   n = na + nb,  δ = μb − μa,  μ = μa + δ·nb/n,  M2 = M2a + M2b + δδᵀ·na·nb/n      (M2 = Σ (x − μ)(x − μ)ᵀ)
// so partial statistics of disjoint parts (--shard-index/--num-shards runs) merge into those of the whole, up
// to float64 rounding. Σ = M2 / (n − 1), numpy.cov's default (as pytorch-fid).
//
// Saved as pytorch-fid's .npz (`mu` [D] float64, `sigma` [D, D] float64) plus `n` (int64 scalar), which
// pytorch-fid ignores and merging needs.
import { InputError } from '../errors.js';
import { readNpz, writeNpz, type NpyArray } from '../nn/npz.js';
import type { Gaussian } from './frechet.js';

export class GaussianStats {
  n = 0;
  readonly mean: Float64Array; // [D]
  /** Σ (x − mean)(x − mean)ᵀ, upper triangle only (row i, columns ≥ i). [D, D] */
  private readonly m2: Float64Array;

  constructor(readonly dim: number) {
    this.mean = new Float64Array(dim);
    this.m2 = new Float64Array(dim * dim);
  }

  /** Adds `count` rows of `features` ([count, D], row-major). */
  add(features: ArrayLike<number>, count: number): void {
    const d = this.dim;
    if (count === 0) return;
    if (features.length !== count * d) throw new Error(`expected ${count}x${d} features, got ${features.length} values`);
    const mb = new Float64Array(d);
    for (let r = 0; r < count; r++) for (let i = 0; i < d; i++) mb[i] += features[r * d + i];
    for (let i = 0; i < d; i++) mb[i] /= count;
    const m2b = new Float64Array(d * d);
    const c = new Float64Array(d);
    for (let r = 0; r < count; r++) {
      for (let i = 0; i < d; i++) c[i] = features[r * d + i] - mb[i];
      for (let i = 0; i < d; i++) {
        const ci = c[i];
        if (ci === 0) continue;
        const row = i * d;
        for (let j = i; j < d; j++) m2b[row + j] += ci * c[j];
      }
    }
    this.fold(count, mb, m2b);
  }

  /** Merges another part's statistics into these. */
  merge(other: GaussianStats): void {
    if (other.dim !== this.dim) throw new InputError(`cannot merge statistics of dimension ${other.dim} into ${this.dim}`);
    this.fold(other.n, other.mean, other.m2);
  }

  private fold(nb: number, mb: Float64Array, m2b: Float64Array): void {
    if (nb === 0) return;
    const d = this.dim;
    const na = this.n;
    const n = na + nb;
    const delta = new Float64Array(d);
    for (let i = 0; i < d; i++) delta[i] = mb[i] - this.mean[i];
    const w = (na * nb) / n;
    for (let i = 0; i < d; i++) {
      const row = i * d;
      const di = delta[i] * w;
      for (let j = i; j < d; j++) this.m2[row + j] += m2b[row + j] + di * delta[j];
    }
    for (let i = 0; i < d; i++) this.mean[i] += (delta[i] * nb) / n;
    this.n = n;
  }

  /** μ and Σ = M2 / (n − 1) (full symmetric matrix). Needs n ≥ 2. */
  gaussian(): Gaussian {
    const d = this.dim;
    if (this.n < 2) throw new InputError(`a covariance needs at least 2 images, got ${this.n}`);
    const sigma = new Float64Array(d * d);
    const s = 1 / (this.n - 1);
    for (let i = 0; i < d; i++) {
      for (let j = i; j < d; j++) {
        const v = this.m2[i * d + j] * s;
        sigma[i * d + j] = v;
        sigma[j * d + i] = v;
      }
    }
    return { mu: Float64Array.from(this.mean), sigma };
  }

  /** Statistics from a saved μ, Σ and count n (M2 = Σ·(n − 1)). */
  static fromGaussian(g: Gaussian, n: number): GaussianStats {
    const d = g.mu.length;
    const s = new GaussianStats(d);
    s.n = n;
    s.mean.set(g.mu);
    for (let i = 0; i < d; i++) for (let j = i; j < d; j++) s.m2[i * d + j] = g.sigma[i * d + j] * (n - 1);
    return s;
  }
}

/** Saved statistics: μ and Σ, and the image count when the file has it (pytorch-fid's files do not). */
export interface SavedStats {
  gaussian: Gaussian;
  n?: number;
}

export async function saveStats(path: string, stats: GaussianStats): Promise<void> {
  const { mu, sigma } = stats.gaussian();
  const d = stats.dim;
  const arrays = new Map<string, NpyArray>([
    ['mu', { shape: [d], data: mu }],
    ['sigma', { shape: [d, d], data: sigma }],
    ['n', { shape: [], data: BigInt64Array.of(BigInt(stats.n)) }],
  ]);
  await writeNpz(path, arrays);
}

export async function loadStats(path: string): Promise<SavedStats> {
  const arrays = await readNpz(path);
  const mu = arrays.get('mu');
  const sigma = arrays.get('sigma');
  if (!mu || !sigma) throw new InputError(`${path}: not FID statistics (needs arrays mu and sigma, found ${[...arrays.keys()].join(', ') || 'none'})`);
  const d = mu.shape[0];
  if (mu.shape.length !== 1 || sigma.shape.join(',') !== `${d},${d}`) {
    throw new InputError(`${path}: mu has shape [${mu.shape}] and sigma [${sigma.shape}]; expected [D] and [D, D]`);
  }
  const toF64 = (a: NpyArray) => (a.data instanceof Float64Array ? a.data : Float64Array.from(a.data as ArrayLike<number>));
  const gaussian = { mu: toF64(mu), sigma: toF64(sigma) };
  if (!gaussian.mu.every(Number.isFinite) || !gaussian.sigma.every(Number.isFinite)) throw new InputError(`${path}: mu or sigma has non-finite values`);
  const nArr = arrays.get('n');
  const n = nArr ? Number((nArr.data as ArrayLike<number | bigint>)[0]) : undefined;
  return { gaussian, n };
}

/** Merges saved partial statistics (each with its count) into one. */
export async function mergeStatsFiles(paths: string[]): Promise<GaussianStats> {
  let total: GaussianStats | undefined;
  for (const path of paths) {
    const { gaussian, n } = await loadStats(path);
    if (n === undefined) throw new InputError(`${path}: has no image count n (saved by another tool?), so it cannot be merged exactly`);
    const part = GaussianStats.fromGaussian(gaussian, n);
    if (!total) total = part;
    else total.merge(part);
  }
  if (!total) throw new InputError('no statistics files to merge');
  return total;
}

// FID statistics and the Fréchet distance against numpy/scipy (fixtures/make_fid_stats_fixtures.py): float64
// accumulation in any batch split equals numpy's mean/cov; partial statistics merge into the whole; saved .npz
// files round-trip and are read from np.savez_compressed; the distance matches scipy's sqrtm-based value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { GaussianStats, loadStats, mergeStatsFiles, saveStats } from '../src/metrics/stats.js';
import { frechetDistance, traceSqrtProduct } from '../src/metrics/frechet.js';
import { decodeNpy, readNpz } from '../src/nn/npz.js';
import { fidOf } from '../src/metrics/fid.js';
import { congruence, gemmNT, pivotedCholesky, setProductThreads, symmetricEigenvalues } from '../src/metrics/linalg.js';
import { Rng } from '../src/util/rng.js';

const dir = fileURLToPath(new URL('../../fixtures/fid/', import.meta.url));
const expected = JSON.parse(readFileSync(`${dir}expected.json`, 'utf8')) as Record<string, number> & { per_class: Record<string, number> };
const features = decodeNpy(readFileSync(`${dir}features.npy`), 'features.npy');
const [N, D] = features.shape;
const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

function maxRel(a: Float64Array, b: Float64Array): number {
  let scale = 0;
  let err = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    err = Math.max(err, Math.abs(a[i] - b[i]));
  }
  return err / scale;
}

test('accumulated mean and covariance equal numpy.mean / numpy.cov for any batch split', async () => {
  const ref = await loadStats(`${dir}features_stats.npz`);
  for (const batch of [1, 7, 64, N]) {
    const s = new GaussianStats(D);
    for (let r = 0; r < N; r += batch) {
      const rows = Math.min(batch, N - r);
      s.add((features.data as Float32Array).subarray(r * D, (r + rows) * D), rows);
    }
    const g = s.gaussian();
    assert.equal(s.n, N);
    assert.ok(maxRel(g.mu, ref.gaussian.mu) < 1e-12, `mu, batch ${batch}`);
    assert.ok(maxRel(g.sigma, ref.gaussian.sigma) < 1e-12, `sigma, batch ${batch}`);
  }
});

test('statistics of interleaved parts (i mod 3) merge into those of the whole; save → load → merge too', async () => {
  const ref = await loadStats(`${dir}features_stats.npz`);
  const tmp = mkdtempSync(join(tmpdir(), 'synthaug-stats-'));
  const parts = [0, 1, 2].map(() => new GaussianStats(D));
  const x = features.data as Float32Array;
  for (let r = 0; r < N; r++) parts[r % 3].add(x.subarray(r * D, (r + 1) * D), 1);
  const paths = parts.map((_, i) => join(tmp, `part-${i}.npz`));
  for (let i = 0; i < 3; i++) await saveStats(paths[i], parts[i]);
  const merged = await mergeStatsFiles(paths);
  assert.equal(merged.n, N);
  const g = merged.gaussian();
  assert.ok(maxRel(g.mu, ref.gaussian.mu) < 1e-12);
  assert.ok(maxRel(g.sigma, ref.gaussian.sigma) < 1e-12);
  // numpy reads the file and finds pytorch-fid's arrays
  const out = execFileSync('/usr/bin/python3', ['-c', `import numpy as np; f=np.load(${JSON.stringify(paths[0])}); print(f['mu'].dtype, f['mu'].shape, f['sigma'].shape, int(f['n']))`], { encoding: 'utf8' });
  assert.equal(out.trim(), `float64 (${D},) (${D}, ${D}) ${parts[0].n}`);
});

test('Fréchet distance agrees with scipy sqrtm on stored statistics to 1e-6 relative', async () => {
  const a = (await loadStats(`${dir}a.npz`)).gaussian;
  const b = (await loadStats(`${dir}b.npz`)).gaussian;
  const sing = (await loadStats(`${dir}singular.npz`)).gaussian;
  assert.ok(rel(frechetDistance(a, b), expected.a_b) < 1e-6, `${frechetDistance(a, b)} vs ${expected.a_b}`);
  assert.ok(Math.abs(frechetDistance(a, a)) < 1e-9);
  // a singular covariance (40 samples in 96 dimensions) on either side
  assert.ok(rel(frechetDistance(a, sing), expected.a_singular) < 1e-6, `${frechetDistance(a, sing)} vs ${expected.a_singular}`);
  assert.ok(rel(frechetDistance(sing, a), expected.singular_a) < 1e-6);
});

test('linear algebra: pivoted Cholesky reproduces a PSD matrix; eigenvalues of a known spectrum', () => {
  // Q diag(λ) Qᵀ with Q a product of Givens rotations, λ including zeros (rank 4 of 6)
  const n = 6;
  const lambda = [5, 3, 0, 2, 0, 0.5];
  const q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) q[i * n + i] = 1;
  for (const [i, j, t] of [[0, 1, 0.3], [1, 4, 1.1], [2, 5, -0.7], [0, 3, 2.0], [3, 5, 0.4]] as const) {
    const c = Math.cos(t);
    const s = Math.sin(t);
    for (let r = 0; r < n; r++) {
      const a = q[r * n + i];
      const b = q[r * n + j];
      q[r * n + i] = c * a - s * b;
      q[r * n + j] = s * a + c * b;
    }
  }
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) m[i * n + j] += q[i * n + k] * lambda[k] * q[j * n + k];
  const eig = [...symmetricEigenvalues(m, n)].sort((x, y) => x - y);
  const want = [...lambda].sort((x, y) => x - y);
  eig.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-12, `eigenvalue ${i}: ${v} vs ${want[i]}`));
  const { b, rank } = pivotedCholesky(m, n);
  assert.equal(rank, 4);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < rank; k++) s += b[i * rank + k] * b[j * rank + k];
      assert.ok(Math.abs(s - m[i * n + j]) < 1e-12);
    }
  }
});

test('linear algebra past the kernel blocks: pivoted Cholesky of rank 110 in 150, Bᵀ S B, A Bᵀ, eigenvalues at n = 67', () => {
  const rng = new Rng(7);
  const maxAbsDiff = (x: ArrayLike<number>, y: ArrayLike<number>) => {
    let m = 0;
    for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
    return m;
  };
  // Σ = X Xᵀ, X [150, 110]: more than two Cholesky panels, then the rank stop
  const n = 150;
  const r0 = 110;
  const x = Float64Array.from({ length: n * r0 }, () => rng.normal());
  const direct = (p: Float64Array, q: Float64Array, rows: number, cols: number, inner: number) => {
    const out = new Float64Array(rows * cols);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) for (let k = 0; k < inner; k++) out[i * cols + j] += p[i * inner + k] * q[j * inner + k];
    return out;
  };
  const sigma = direct(x, x, n, n, r0);
  const { b, l, perm, rank } = pivotedCholesky(sigma, n);
  assert.equal(rank, r0);
  assert.ok(maxAbsDiff(direct(b, b, n, n, rank), sigma) < 1e-10 * r0);
  // Bᵀ S B against the direct triple product, S = Y Yᵀ
  const y = Float64Array.from({ length: n * n }, () => rng.normal());
  const s = direct(y, y, n, n, n);
  const bt = new Float64Array(rank * n);
  for (let i = 0; i < n; i++) for (let k = 0; k < rank; k++) bt[k * n + i] = b[i * rank + k];
  const sb = direct(s, bt, n, rank, n); // [n, r] = S B
  const sbt = new Float64Array(rank * n);
  for (let i = 0; i < n; i++) for (let k = 0; k < rank; k++) sbt[k * n + i] = sb[i * rank + k];
  const want = direct(bt, sbt, rank, rank, n);
  const got = congruence(s, l, perm, n, rank);
  assert.ok(maxAbsDiff(got, want) < 1e-12 * Math.max(...want.map(Math.abs)), `${maxAbsDiff(got, want)}`);
  // A Bᵀ at sizes that need padding, plain and with A lower trapezoidal (tri)
  const a7 = Float64Array.from({ length: 7 * 9 }, (_, i) => (i % 9 >= Math.floor(i / 9) ? rng.normal() : 0));
  const b5 = Float64Array.from({ length: 5 * 9 }, () => rng.normal());
  for (const tri of [false, true]) assert.ok(maxAbsDiff(gemmNT(a7, b5, 7, 5, 9, tri, false), direct(a7, b5, 7, 5, 9)) < 1e-13);
  // Q diag(λ) Qᵀ, Q a product of three Householder reflections, λ with zeros and a repeated value
  const m = 67;
  const lambda = Array.from({ length: m }, (_, i) => (i % 5 === 0 ? 0 : i % 7 === 0 ? 2 : 1 + i / 10));
  const q = new Float64Array(m * m);
  for (let i = 0; i < m; i++) q[i * m + i] = 1;
  for (let h = 0; h < 3; h++) {
    const u = Float64Array.from({ length: m }, () => rng.normal());
    const uu = u.reduce((acc, v) => acc + v * v, 0);
    for (let row = 0; row < m; row++) {
      let dot = 0;
      for (let k = 0; k < m; k++) dot += q[row * m + k] * u[k];
      for (let k = 0; k < m; k++) q[row * m + k] -= (2 * dot * u[k]) / uu;
    }
  }
  const qd = Float64Array.from({ length: m * m }, (_, i) => q[i] * lambda[i % m]);
  const eig = [...symmetricEigenvalues(direct(qd, q, m, m, m), m)].sort((p1, p2) => p1 - p2);
  const sorted = [...lambda].sort((p1, p2) => p1 - p2);
  eig.forEach((v, i) => assert.ok(Math.abs(v - sorted[i]) < 1e-12, `eigenvalue ${i}: ${v} vs ${sorted[i]}`));
});

test('the matrix product on two threads gives the same tr √(Σ1Σ2), bit for bit, as on one', () => {
  const rng = new Rng(11);
  const n = 400; // several chunks of rows per product
  const cov = () => {
    const x = Float64Array.from({ length: n * n }, () => rng.normal());
    return gemmNT(x, x, n, n, n, false, false);
  };
  try {
    setProductThreads(1);
    const s1 = cov();
    const s2 = cov();
    const one = traceSqrtProduct(s1, s2, n);
    assert.ok(Number.isFinite(one) && one > 0);
    setProductThreads(2);
    // the helper thread starts with the first product: run a few so that it takes part
    for (let round = 0; round < 3; round++) assert.equal(traceSqrtProduct(s1, s2, n), one);
  } finally {
    setProductThreads(2);
  }
});

test('per-class FID: one Gaussian per cls on each side, each against scipy to 1e-6', async () => {
  const arrays = await readNpz(`${dir}per_class.npz`);
  const d = arrays.get('x')!.shape[1];
  const side = (f: string, l: string) => {
    const feats = arrays.get(f)!.data as Float32Array;
    const labels = arrays.get(l)!.data as BigInt64Array;
    const stats = new GaussianStats(d);
    stats.add(feats, labels.length);
    const perClass = new Map<number, GaussianStats>();
    labels.forEach((c, i) => {
      const k = Number(c);
      if (!perClass.has(k)) perClass.set(k, new GaussianStats(d));
      perClass.get(k)!.add(feats.subarray(i * d, (i + 1) * d), 1);
    });
    return { spec: f, stats, countKnown: true, perClass };
  };
  const r = fidOf(side('x', 'lx'), side('y', 'ly'), { perClass: true });
  assert.deepEqual(Object.keys(r.per_class!), ['0', '1', '2']);
  for (const [c, v] of Object.entries(expected.per_class)) assert.ok(rel(r.per_class![c], v) < 1e-6, `class ${c}: ${r.per_class![c]} vs ${v}`);
});

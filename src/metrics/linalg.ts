// Dense float64 linear algebra for the Fréchet distance: square matrices are row-major Float64Arrays of n×n.
//   pivotedCholesky: Σ = P L Lᵀ Pᵀ for a symmetric positive semi-definite Σ, stopping at its numerical rank
//                    (Higham, "Analysis of the Cholesky decomposition of a semi-definite matrix", 1990; the
//                    stopping rule of LAPACK's dpstrf: remaining pivot ≤ n·ε·max diag);
//   symmetricEigenvalues: Householder reduction to tridiagonal form, then the implicit QL algorithm with
//                    Wilkinson shifts (Golub & Van Loan, Matrix Computations, §8.3), eigenvalues only.

/** Σ (n×n, symmetric PSD) → B = P·L, n×r row-major, with Σ ≈ B Bᵀ and r the numerical rank. */
export function pivotedCholesky(sigma: Float64Array, n: number): { b: Float64Array; rank: number } {
  const a = Float64Array.from(sigma); // rows/cols permuted in place; L fills the lower triangle
  const perm = Int32Array.from({ length: n }, (_, i) => i);
  const diag = new Float64Array(n); // remaining pivots Σ[i,i] − Σ_j L[i,j]², in permuted order
  let maxDiag = 0;
  for (let i = 0; i < n; i++) {
    diag[i] = a[i * n + i];
    maxDiag = Math.max(maxDiag, diag[i]);
  }
  const tol = n * Number.EPSILON * maxDiag;
  let rank = 0;
  for (let k = 0; k < n; k++) {
    let best = k;
    for (let i = k + 1; i < n; i++) if (diag[i] > diag[best]) best = i;
    if (!(diag[best] > tol)) break;
    if (best !== k) {
      swapSymmetric(a, n, k, best);
      [perm[k], perm[best]] = [perm[best], perm[k]];
      [diag[k], diag[best]] = [diag[best], diag[k]];
    }
    const lkk = Math.sqrt(diag[k]);
    const rowK = k * n;
    a[rowK + k] = lkk;
    const inv = 1 / lkk;
    // left-looking: L[i,k] = (Σ[i,k] − L[i,:k]·L[k,:k]) / L[k,k], a dot product of two contiguous rows
    for (let i = k + 1; i < n; i++) {
      const rowI = i * n;
      let s = a[rowI + k];
      for (let j = 0; j < k; j++) s -= a[rowI + j] * a[rowK + j];
      const l = s * inv;
      a[rowI + k] = l;
      diag[i] -= l * l;
    }
    rank++;
  }
  const b = new Float64Array(n * rank);
  for (let i = 0; i < n; i++) {
    const out = perm[i] * rank;
    const row = i * n;
    for (let j = 0; j < Math.min(i + 1, rank); j++) b[out + j] = a[row + j];
  }
  return { b, rank };
}

/** Swaps rows and columns k and m of the n×n matrix a (a symmetric permutation). */
function swapSymmetric(a: Float64Array, n: number, k: number, m: number): void {
  for (let j = 0; j < n; j++) [a[k * n + j], a[m * n + j]] = [a[m * n + j], a[k * n + j]];
  for (let i = 0; i < n; i++) [a[i * n + k], a[i * n + m]] = [a[i * n + m], a[i * n + k]];
}

/** Bᵀ S B for S n×n symmetric and B n×r (row-major): the r×r symmetric result. */
export function congruence(s: Float64Array, b: Float64Array, n: number, r: number): Float64Array {
  // T = S B  [n, r], then M = Bᵀ T  [r, r]; both with contiguous inner loops.
  const t = new Float64Array(n * r);
  for (let i = 0; i < n; i++) {
    const ti = i * r;
    const si = i * n;
    for (let k = 0; k < n; k++) {
      const sik = s[si + k];
      if (sik === 0) continue;
      const bk = k * r;
      for (let j = 0; j < r; j++) t[ti + j] += sik * b[bk + j];
    }
  }
  const m = new Float64Array(r * r);
  for (let k = 0; k < n; k++) {
    const bk = k * r;
    for (let i = 0; i < r; i++) {
      const bki = b[bk + i];
      if (bki === 0) continue;
      const mi = i * r;
      for (let j = 0; j < r; j++) m[mi + j] += bki * t[bk + j];
    }
  }
  // symmetrise away rounding differences
  for (let i = 0; i < r; i++) {
    for (let j = 0; j < i; j++) {
      const v = 0.5 * (m[i * r + j] + m[j * r + i]);
      m[i * r + j] = v;
      m[j * r + i] = v;
    }
  }
  return m;
}

/** Eigenvalues of a symmetric n×n matrix (row-major; only the lower triangle is read), in no particular order. */
export function symmetricEigenvalues(matrix: Float64Array, n: number): Float64Array {
  const a = Float64Array.from(matrix);
  const d = new Float64Array(n);
  const e = new Float64Array(n); // e[i] couples d[i] and d[i+1]
  const v = new Float64Array(n);
  const p = new Float64Array(n);
  // Householder: for k = 0..n-3 zero A[k+2.., k] with a reflector on rows/cols k+1..n-1.
  for (let k = 0; k < n - 2; k++) {
    const m = n - k - 1; // size of the trailing block
    let norm = 0;
    for (let i = k + 1; i < n; i++) norm = Math.hypot(norm, a[i * n + k]);
    d[k] = a[k * n + k];
    if (norm === 0) {
      e[k] = 0;
      continue;
    }
    const x0 = a[(k + 1) * n + k];
    const alpha = x0 > 0 ? -norm : norm;
    // v = x − alpha e1, H = I − 2 v vᵀ / (vᵀv)
    for (let i = 0; i < m; i++) v[i] = a[(k + 1 + i) * n + k];
    v[0] -= alpha;
    let vv = 0;
    for (let i = 0; i < m; i++) vv += v[i] * v[i];
    e[k] = alpha;
    if (vv === 0) continue;
    const beta = 2 / vv;
    // p = beta A22 v; w = p − (beta pᵀv / 2) v; A22 −= v wᵀ + w vᵀ
    for (let i = 0; i < m; i++) {
      const row = (k + 1 + i) * n + k + 1;
      let s = 0;
      for (let j = 0; j < m; j++) s += a[row + j] * v[j];
      p[i] = beta * s;
    }
    let pv = 0;
    for (let i = 0; i < m; i++) pv += p[i] * v[i];
    const c = (beta * pv) / 2;
    for (let i = 0; i < m; i++) p[i] -= c * v[i];
    for (let i = 0; i < m; i++) {
      const row = (k + 1 + i) * n + k + 1;
      const vi = v[i];
      const wi = p[i];
      for (let j = 0; j < m; j++) a[row + j] -= vi * p[j] + wi * v[j];
    }
  }
  if (n >= 2) {
    d[n - 2] = a[(n - 2) * n + n - 2];
    e[n - 2] = a[(n - 1) * n + n - 2];
  }
  if (n >= 1) d[n - 1] = a[(n - 1) * n + n - 1];
  e[n - 1] = 0;
  tridiagonalQL(d, e, n);
  return d;
}

/** Implicit QL with Wilkinson shifts on the tridiagonal (d, e); d becomes the eigenvalues. */
function tridiagonalQL(d: Float64Array, e: Float64Array, n: number): void {
  for (let l = 0; l < n; l++) {
    for (let iter = 0; ; iter++) {
      let m = l;
      for (; m < n - 1; m++) {
        const dd = Math.abs(d[m]) + Math.abs(d[m + 1]);
        if (Math.abs(e[m]) <= Number.EPSILON * dd) break;
      }
      if (m === l) break;
      if (iter >= 60) throw new Error('symmetric eigenvalues: QL iteration did not converge');
      let g = (d[l + 1] - d[l]) / (2 * e[l]);
      let r = Math.hypot(g, 1);
      g = d[m] - d[l] + e[l] / (g + (g >= 0 ? Math.abs(r) : -Math.abs(r)));
      let s = 1;
      let c = 1;
      let p = 0;
      let i = m - 1;
      for (; i >= l; i--) {
        const f = s * e[i];
        const b = c * e[i];
        r = Math.hypot(f, g);
        e[i + 1] = r;
        if (r === 0) {
          d[i + 1] -= p;
          e[m] = 0;
          break;
        }
        s = f / r;
        c = g / r;
        g = d[i + 1] - p;
        r = (d[i] - g) * s + 2 * c * b;
        p = s * r;
        d[i + 1] = g + p;
        g = c * r - b;
      }
      if (r === 0 && i >= l) continue;
      d[l] -= p;
      e[l] = g;
      e[m] = 0;
    }
  }
}

// Dense float64 linear algebra for the Fréchet distance: square matrices are row-major Float64Arrays of n×n.
//   pivotedCholesky: Σ = P L Lᵀ Pᵀ for a symmetric positive semi-definite Σ, stopping at its numerical rank
//                    (Higham, "Analysis of the Cholesky decomposition of a semi-definite matrix", 1990; the
//                    stopping rule of LAPACK's dpstrf: remaining pivot ≤ n·ε·max diag);
//   symmetricEigenvalues: Householder reduction to tridiagonal form, then the implicit QL algorithm with
//                    Wilkinson shifts (Golub & Van Loan, Matrix Computations, §8.3), eigenvalues only.
// The O(n³) work runs in f64x2 WASM kernels (linalg.wat): the cache-blocked product A Bᵀ (the congruence, the
// Cholesky trailing updates; on two threads when there are two cores) and the fused update + product pass of
// each Householder step.

import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/**
 * Σ (n×n, symmetric PSD) → Σ ≈ B Bᵀ with B = P·L: L [n, r] lower triangular in pivoted row order (row i of L is
 * row perm[i] of B), r the numerical rank. Returns L, perm, and B [n, r] row-major.
 */
export function pivotedCholesky(sigma: Float64Array, n: number): { b: Float64Array; l: Float64Array; perm: Int32Array; rank: number } {
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
  // blocked by panels of NB columns: left-looking inside a panel, then the trailing matrix (rows and columns past
  // the panel, both triangles) loses the panel's contribution L21 L21ᵀ in one matrix product
  for (let k0 = 0; k0 === rank && k0 < n; k0 += CHOLESKY_PANEL) {
    const k1 = Math.min(n, k0 + CHOLESKY_PANEL);
    for (let k = k0; k < k1; k++) {
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
      // L[i,k] = (Σ[i,k] − L[i,k0:k]·L[k,k0:k]) / L[k,k] (columns before k0 are already subtracted), dot products
      // of contiguous rows, 4 rows at a time
      let i = k + 1;
      for (; i + 3 < n; i += 4) {
        const r0 = i * n, r1 = r0 + n, r2 = r1 + n, r3 = r2 + n;
        let s0 = a[r0 + k], s1 = a[r1 + k], s2 = a[r2 + k], s3 = a[r3 + k];
        for (let j = k0; j < k; j++) {
          const lk = a[rowK + j];
          s0 -= a[r0 + j] * lk;
          s1 -= a[r1 + j] * lk;
          s2 -= a[r2 + j] * lk;
          s3 -= a[r3 + j] * lk;
        }
        a[r0 + k] = s0 * inv;
        a[r1 + k] = s1 * inv;
        a[r2 + k] = s2 * inv;
        a[r3 + k] = s3 * inv;
      }
      for (; i < n; i++) {
        const rowI = i * n;
        let s = a[rowI + k];
        for (let j = k0; j < k; j++) s -= a[rowI + j] * a[rowK + j];
        a[rowI + k] = s * inv;
      }
      for (let q = k + 1; q < n; q++) diag[q] -= a[q * n + k] * a[q * n + k];
      rank++;
    }
    if (rank < k1 || k1 === n) break;
    const m = n - k1;
    const w = k1 - k0;
    const panel = new Float64Array(m * w); // L21 [m, w]
    for (let i = 0; i < m; i++) panel.set(a.subarray((k1 + i) * n + k0, (k1 + i) * n + k1), i * w);
    const u = gemmNT(panel, panel, m, m, w, false, true); // upper triangle of L21 L21ᵀ
    for (let i = 0; i < m; i++) {
      const row = (k1 + i) * n + k1;
      a[row + i] -= u[i * m + i];
      for (let j = i + 1; j < m; j++) {
        const x = u[i * m + j];
        a[row + j] -= x;
        a[(k1 + j) * n + k1 + i] -= x;
      }
    }
  }
  const l = new Float64Array(n * rank);
  const b = new Float64Array(n * rank);
  for (let i = 0; i < n; i++) {
    const row = i * n;
    for (let j = 0; j < Math.min(i + 1, rank); j++) l[i * rank + j] = a[row + j];
    b.set(l.subarray(i * rank, (i + 1) * rank), perm[i] * rank);
  }
  return { b, l, perm, rank };
}

const CHOLESKY_PANEL = 64;

/** Swaps rows and columns k and m of the n×n matrix a (a symmetric permutation). */
function swapSymmetric(a: Float64Array, n: number, k: number, m: number): void {
  for (let j = 0; j < n; j++) [a[k * n + j], a[m * n + j]] = [a[m * n + j], a[k * n + j]];
  for (let i = 0; i < n; i++) [a[i * n + k], a[i * n + m]] = [a[i * n + m], a[i * n + k]];
}

/**
 * Bᵀ S B for S n×n symmetric and B = P·L from pivotedCholesky (given as L, lower triangular in pivoted row order
 * [n, r], and perm): the r×r symmetric result, computed as Lᵀ (Pᵀ S P) L with the zeros of L skipped.
 */
export function congruence(s: Float64Array, l: Float64Array, perm: Int32Array, n: number, r: number): Float64Array {
  const sp = new Float64Array(n * n); // Pᵀ S P
  for (let i = 0; i < n; i++) {
    const src = perm[i] * n;
    for (let k = 0; k < n; k++) sp[i * n + k] = s[src + perm[k]];
  }
  const lt = transpose(l, n, r); // [r, n]; row j is zero before column j
  // Tᵀ [r, n]: Tᵀ[j, i] = Σ_{k ≥ j} Lᵀ[j, k] S'[i, k]
  const tt = gemmNT(lt, sp, r, n, n, true, false);
  // M = Lᵀ T [r, r]: M[i, j] = Σ_{k ≥ i} Lᵀ[i, k] Tᵀ[j, k], upper triangle then mirrored
  const m = gemmNT(lt, tt, r, r, n, true, true);
  for (let i = 0; i < r; i++) for (let j = 0; j < i; j++) m[i * r + j] = m[j * r + i];
  return m;
}

function transpose(x: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = x[i * cols + j];
  return out;
}

interface KernelExports {
  tridiagonalStep(a: number, n: number, off: number, m: number, v: number, w: number, v2: number, p2: number): void;
  gemmNT(a: number, b: number, c: number, i0: number, i1: number, rb: number, kn: number, lda: number, ldb: number, ldc: number, tri: number, upper: number, kc: number, jc: number): void;
}

let kernelInstance: { exports: KernelExports; memory: WebAssembly.Memory } | undefined;

/**
 * The f64x2 SIMD kernels of linalg.wat (assembled beside this file), instantiated once on a shared memory of
 * their own (the product's helper thread works on it too), grown to at least `bytes`.
 */
function wasmKernel(bytes: number): { exports: KernelExports; heap: Float64Array } {
  if (kernelInstance === undefined) {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 32768, shared: true });
    kernelInstance = { exports: new WebAssembly.Instance(kernelModule(), { env: { memory } }).exports as unknown as KernelExports, memory };
  }
  const pages = Math.ceil(bytes / 65536) - kernelInstance.memory.buffer.byteLength / 65536;
  if (pages > 0) kernelInstance.memory.grow(pages);
  return { exports: kernelInstance.exports, heap: new Float64Array(kernelInstance.memory.buffer) };
}

let compiled: WebAssembly.Module | undefined;
function kernelModule(): WebAssembly.Module {
  compiled ??= new WebAssembly.Module(readFileSync(new URL('./linalg.wasm', import.meta.url)));
  return compiled;
}

// Cache blocking of the kernel: KC columns of k (a row segment of 4 KiB), JC rows of B per block (256 KiB in L2),
// ROWS rows of A per chunk of work.
const KC = 512;
const JC = 64;
const ROWS = 64;

// The product's threads share an Int32Array of control words: the round's number (the helper waits for it to
// change), the next chunk of rows to take, how many chunks are being computed, then the kernel's arguments.
const SEQ = 0;
const NEXT = 1;
const IN_FLIGHT = 2;
const ARGS = 3; // a, b, c, rows, rb, kn, lda, ldb, ldc, tri, upper
const NO_CHUNKS = 1 << 30; // NEXT between rounds

/** Takes chunks of ROWS rows of the current round until none are left, on either thread. */
function takeChunks(gemm: KernelExports['gemmNT'], control: Int32Array): void {
  for (;;) {
    Atomics.add(control, IN_FLIGHT, 1);
    const i0 = Atomics.add(control, NEXT, 1) * ROWS;
    const [a, b, c, rows, rb, kn, lda, ldb, ldc, tri, upper] = control.subarray(ARGS, ARGS + 11);
    if (i0 < rows) gemm(a, b, c, i0, Math.min(i0 + ROWS, rows), rb, kn, lda, ldb, ldc, tri, upper, KC, JC);
    Atomics.sub(control, IN_FLIGHT, 1);
    Atomics.notify(control, IN_FLIGHT);
    if (i0 >= rows) return;
  }
}

/** The loop of the product's helper thread (linalg-worker.ts): waits for each new round and takes its chunks. */
export function productThread(memory: WebAssembly.Memory, control: Int32Array): never {
  const gemm = (new WebAssembly.Instance(kernelModule(), { env: { memory } }).exports as unknown as KernelExports).gemmNT;
  let seen = 0;
  for (;;) {
    Atomics.wait(control, SEQ, seen);
    seen = Atomics.load(control, SEQ);
    takeChunks(gemm, control);
  }
}

let threads = Math.min(2, availableParallelism());
let helper: { worker: Worker; control: Int32Array } | undefined;

/** How many threads the WASM matrix product uses: 1, or 2 (the calling thread and one worker). */
export function setProductThreads(n: 1 | 2): void {
  threads = n;
}

/**
 * C[i, j] += Σ A[i, k] B[j, k] over rows 0 ≤ i < rows in chunks of ROWS rows, arguments as the kernel's
 * gemmNT (byte offsets in the kernel's memory); with two threads the helper worker takes chunks too (whoever
 * is free takes the next one, so a busy core does not hold the other back). The chunks write disjoint rows of
 * C and each element is summed in the same order on either thread: the result does not depend on the split.
 */
function runProduct(exports: KernelExports, args: number[]): void {
  const rows = args[3];
  if (threads < 2 || rows <= ROWS) {
    const [a, b, c, , rb, kn, lda, ldb, ldc, tri, upper] = args;
    for (let i0 = 0; i0 < rows; i0 += ROWS) exports.gemmNT(a, b, c, i0, Math.min(i0 + ROWS, rows), rb, kn, lda, ldb, ldc, tri, upper, KC, JC);
    return;
  }
  if (helper === undefined) {
    const control = new Int32Array(new SharedArrayBuffer(4 * (ARGS + 11)));
    control[NEXT] = NO_CHUNKS;
    const worker = new Worker(new URL('./linalg-worker.js', import.meta.url), { workerData: { memory: kernelInstance!.memory, control } });
    worker.unref();
    helper = { worker, control };
  }
  const control = helper.control;
  control.set(args, ARGS);
  Atomics.store(control, NEXT, 0);
  Atomics.add(control, SEQ, 1);
  Atomics.notify(control, SEQ);
  takeChunks(exports.gemmNT, control);
  // the chunks are all taken: a late claim finds nothing (whatever the next round's size), and those still being
  // computed are waited for
  Atomics.store(control, NEXT, NO_CHUNKS);
  for (let busy = Atomics.load(control, IN_FLIGHT); busy !== 0; busy = Atomics.load(control, IN_FLIGHT)) Atomics.wait(control, IN_FLIGHT, busy);
}

/**
 * C = A Bᵀ [ra, rb] for A [ra, kn], B [rb, kn] row-major (dot products of contiguous rows), in WASM SIMD.
 * `tri`: row i of A is zero before column i (those products are skipped). `upper`: only C[i, j ≥ i] is needed
 * (the rest may be left zero). The operands are copied into the kernel's memory, zero-padded to ra even,
 * rb a multiple of 4 and kn even.
 */
export function gemmNT(a: Float64Array, b: Float64Array, ra: number, rb: number, kn: number, tri: boolean, upper: boolean): Float64Array {
  const ra2 = ra + (ra % 2);
  const rb4 = rb + ((4 - (rb % 4)) % 4);
  const kn2 = kn + (kn % 2);
  const offB = ra2 * kn2;
  const offC = offB + rb4 * kn2;
  const total = offC + ra2 * rb4;
  const { exports, heap } = wasmKernel(total * 8);
  heap.fill(0, 0, total);
  for (let i = 0; i < ra; i++) heap.set(a.subarray(i * kn, (i + 1) * kn), i * kn2);
  for (let j = 0; j < rb; j++) heap.set(b.subarray(j * kn, (j + 1) * kn), offB + j * kn2);
  runProduct(exports, [0, offB * 8, offC * 8, ra2, rb4, kn2, kn2, kn2, rb4, tri ? 1 : 0, upper ? 1 : 0]);
  const c = new Float64Array(ra * rb);
  for (let i = 0; i < ra; i++) c.set(heap.subarray(offC + i * rb4, offC + i * rb4 + rb), i * rb);
  return c;
}

/** Eigenvalues of a symmetric n×n matrix (row-major; only the lower triangle is read), in no particular order. */
export function symmetricEigenvalues(matrix: Float64Array, n: number): Float64Array {
  // the matrix and the reflector work vectors live in the WASM kernel's memory
  const { exports, heap } = wasmKernel((n * n + 5 * n) * 8);
  const a = heap.subarray(0, n * n);
  a.set(matrix.subarray(0, n * n));
  const d = new Float64Array(n);
  const e = new Float64Array(n); // e[i] couples d[i] and d[i+1]
  tridiagonalize(a, n, d, e, heap.subarray(n * n, n * n + 5 * n), exports);
  tridiagonalQL(d, e, n);
  return d;
}

/**
 * The reflector of step k: v (length n−k−1) with H = I − beta v vᵀ mapping column k below the diagonal to
 * (alpha, 0, …, 0). beta = 0 when the column is already zero.
 */
function reflector(a: Float64Array, n: number, k: number, v: Float64Array): { alpha: number; beta: number } {
  const m = n - k - 1;
  let ss = 0;
  for (let i = 0; i < m; i++) {
    const x = a[(k + 1 + i) * n + k];
    v[i] = x;
    ss += x * x;
  }
  const norm = Math.sqrt(ss);
  if (norm === 0) {
    v.fill(0, 0, m);
    return { alpha: 0, beta: 0 };
  }
  const alpha = v[0] > 0 ? -norm : norm;
  v[0] -= alpha;
  let vv = 0;
  for (let i = 0; i < m; i++) vv += v[i] * v[i];
  return { alpha, beta: vv === 0 ? 0 : 2 / vv };
}

/**
 * Householder reduction of the symmetric matrix in `a` (lower triangle, overwritten) to the tridiagonal (d, e).
 * Step k: p = beta A22 v, w = p − (beta pᵀv / 2) v, A22 −= v wᵀ + w vᵀ. The update of step k and the product
 * A22' v' of step k+1 share one pass over the trailing lower triangle (the next reflector needs only the first
 * updated column), which halves the memory traffic of the plain two-pass form.
 */
function tridiagonalize(a: Float64Array, n: number, d: Float64Array, e: Float64Array, work: Float64Array, kernel: KernelExports): void {
  let v = work.subarray(0, n);
  let p = work.subarray(n, 2 * n);
  let v2 = work.subarray(2 * n, 3 * n);
  let p2 = work.subarray(3 * n, 4 * n);
  const w = work.subarray(4 * n, 5 * n);
  if (n >= 3) {
    const r = reflector(a, n, 0, v);
    d[0] = a[0];
    e[0] = r.alpha;
    let beta = r.beta;
    // p = A22 v for the block rows/cols 1..n-1, from its lower triangle
    const m0 = n - 1;
    p.fill(0, 0, m0);
    for (let i = 0; i < m0; i++) {
      const row = (1 + i) * n + 1;
      const vi = v[i];
      let s = a[row + i] * vi;
      for (let j = 0; j < i; j++) {
        const aij = a[row + j];
        s += aij * v[j];
        p[j] += aij * vi;
      }
      p[i] += s;
    }
    for (let k = 0; k < n - 2; k++) {
      const m = n - k - 1;
      const off = k + 1;
      let pv = 0;
      for (let i = 0; i < m; i++) {
        p[i] *= beta;
        pv += p[i] * v[i];
      }
      const c = (beta * pv) / 2;
      for (let i = 0; i < m; i++) w[i] = p[i] - c * v[i];
      if (k + 1 < n - 2) {
        // first column of the block, then the next reflector from it
        const v0 = v[0];
        const w0 = w[0];
        for (let i = 0; i < m; i++) a[(off + i) * n + off] -= v[i] * w0 + w[i] * v0;
        const r2 = reflector(a, n, off, v2);
        d[k + 1] = a[off * n + off];
        e[k + 1] = r2.alpha;
        // one pass over rows and columns 1..m-1 of the block: update, then accumulate p2 = A22' v2 (linalg.wat)
        p2.fill(0, 0, m - 1);
        kernel.tridiagonalStep(a.byteOffset, n, off, m, v.byteOffset, w.byteOffset, v2.byteOffset, p2.byteOffset);
        [v, v2] = [v2, v];
        [p, p2] = [p2, p];
        beta = r2.beta;
      } else {
        for (let i = 0; i < m; i++) {
          const row = (off + i) * n + off;
          for (let j = 0; j <= i; j++) a[row + j] -= v[i] * w[j] + w[i] * v[j];
        }
      }
    }
  }
  if (n >= 2) {
    d[n - 2] = a[(n - 2) * n + n - 2];
    e[n - 2] = a[(n - 1) * n + n - 2];
  }
  if (n >= 1) d[n - 1] = a[(n - 1) * n + n - 1];
  e[n - 1] = 0;
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

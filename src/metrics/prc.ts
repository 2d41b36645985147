// Improved precision and recall (Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric for Assessing
// Generative Models", §2): each set's manifold is the union of balls around its feature vectors, the radius of
// a ball being the distance to that vector's k-th nearest neighbour within its own set (itself excluded).
//   precision = fraction of generated vectors inside the real manifold
//   recall    = fraction of real vectors inside the generated manifold
// Squared distances |a|² + |b|² − 2aᵀb come from float32 matrix products in blocks of rows.
import * as tf from '@tensorflow/tfjs-core';

const BLOCK = 1024;

/** Squared distances of rows a[i0..i1) to every row of b, [rows, nb] row-major. */
function distanceBlock(a: Float32Array, i0: number, i1: number, b: tf.Tensor2D, bNorms: tf.Tensor1D, d: number): Float32Array {
  return tf.tidy(() => {
    const x = tf.tensor2d(a.subarray(i0 * d, i1 * d), [i1 - i0, d]);
    const xn = tf.sum(tf.square(x), 1, true); // [r, 1]
    const dist = tf.relu(tf.sub(tf.add(xn, bNorms), tf.mul(tf.matMul(x, b, false, true), 2)));
    return dist.dataSync() as Float32Array;
  });
}

/** The squared distance of every row of x [n, d] to its k-th nearest other row. */
export function kthNeighbourRadii(x: Float32Array, d: number, k: number): Float32Array {
  const n = x.length / d;
  if (n <= k) throw new Error(`precision/recall with k = ${k} needs more than ${k} images per side (got ${n})`);
  const xt = tf.tensor2d(x, [n, d]);
  const norms = tf.tidy(() => tf.sum(tf.square(xt), 1)) as tf.Tensor1D;
  const radii = new Float32Array(n);
  const best = new Float32Array(k + 1);
  for (let i0 = 0; i0 < n; i0 += BLOCK) {
    const i1 = Math.min(n, i0 + BLOCK);
    const dist = distanceBlock(x, i0, i1, xt, norms, d);
    for (let r = 0; r < i1 - i0; r++) {
      // the k+1 smallest distances of the row (the row itself is one of them, at distance 0)
      best.fill(Infinity);
      for (let j = 0; j < n; j++) {
        const v = j === i0 + r ? 0 : dist[r * n + j];
        if (v >= best[k]) continue;
        let p = k;
        while (p > 0 && best[p - 1] > v) {
          best[p] = best[p - 1];
          p--;
        }
        best[p] = v;
      }
      radii[i0 + r] = best[k];
    }
  }
  xt.dispose();
  norms.dispose();
  return radii;
}

/** Fraction of rows of `query` within the manifold of `ref` (radii: ref's squared k-NN distances). */
function coverage(query: Float32Array, ref: Float32Array, radii: Float32Array, d: number): number {
  const nq = query.length / d;
  const nr = ref.length / d;
  const rt = tf.tensor2d(ref, [nr, d]);
  const norms = tf.tidy(() => tf.sum(tf.square(rt), 1)) as tf.Tensor1D;
  let inside = 0;
  for (let i0 = 0; i0 < nq; i0 += BLOCK) {
    const i1 = Math.min(nq, i0 + BLOCK);
    const dist = distanceBlock(query, i0, i1, rt, norms, d);
    for (let r = 0; r < i1 - i0; r++) {
      for (let j = 0; j < nr; j++) {
        if (dist[r * nr + j] <= radii[j]) {
          inside++;
          break;
        }
      }
    }
  }
  rt.dispose();
  norms.dispose();
  return inside / nq;
}

export function precisionRecall(real: Float32Array, fake: Float32Array, d: number, k = 3): { precision: number; recall: number } {
  const realRadii = kthNeighbourRadii(real, d, k);
  const fakeRadii = kthNeighbourRadii(fake, d, k);
  return { precision: coverage(fake, real, realRadii, d), recall: coverage(real, fake, fakeRadii, d) };
}

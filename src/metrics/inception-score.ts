// Inception Score (Salimans et al. 2016, "Improved Techniques for Training GANs", §4):
//   IS = exp( E_x KL( p(y|x) ‖ p(y) ) ),  p(y|x) = softmax(logits), p(y) = the mean of p(y|x) over the part
// computed on `splits` parts and reported as mean ± standard deviation (÷ splits) over the parts.
// Order: the parts are consecutive runs of the input in the order it is read (no shuffle), part s holding rows
// [s·⌊N/splits⌋, (s+1)·⌊N/splits⌋); the last N mod splits rows are not used (as the original code).
// Softmax and logarithms in float64.

/** Row-wise softmax of logits [n, k] in float64. */
function softmaxRows(logits: ArrayLike<number>, n: number, k: number): Float64Array {
  const p = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let j = 0; j < k; j++) max = Math.max(max, logits[i * k + j]);
    let sum = 0;
    for (let j = 0; j < k; j++) sum += p[i * k + j] = Math.exp(logits[i * k + j] - max);
    for (let j = 0; j < k; j++) p[i * k + j] /= sum;
  }
  return p;
}

export function inceptionScore(logits: ArrayLike<number>, k: number, splits = 10): { mean: number; std: number; used: number } {
  const n = logits.length / k;
  const part = Math.floor(n / splits);
  if (part < 1) throw new Error(`the Inception Score over ${splits} splits needs at least ${splits} images (got ${n})`);
  const p = softmaxRows(logits, n, k);
  const scores: number[] = [];
  for (let s = 0; s < splits; s++) {
    const py = new Float64Array(k);
    for (let i = s * part; i < (s + 1) * part; i++) for (let j = 0; j < k; j++) py[j] += p[i * k + j] / part;
    let kl = 0;
    for (let i = s * part; i < (s + 1) * part; i++) {
      for (let j = 0; j < k; j++) {
        const v = p[i * k + j];
        if (v > 0) kl += v * (Math.log(v) - Math.log(py[j]));
      }
    }
    scores.push(Math.exp(kl / part));
  }
  const mean = scores.reduce((a, b) => a + b, 0) / splits;
  const std = Math.sqrt(scores.reduce((a, v) => a + (v - mean) ** 2, 0) / splits);
  return { mean, std, used: part * splits };
}

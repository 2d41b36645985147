// Classification metrics from logits and integer labels: top-k accuracy, per-class accuracy and the
// confusion matrix. Pure functions over plain arrays (no tfjs), so the evaluation loop can feed them a
// batch at a time and two partial results (e.g. from --shard-index workers) merge exactly by adding counts.

/** Counts that fully determine the metrics; summing two of them gives the metrics of the union. */
export interface ClassificationCounts {
  numClasses: number;
  /** k of the top-k accuracy that is reported beside top-1: min(5, numClasses). */
  k: number;
  count: number;
  correctTop1: number;
  correctTopK: number;
  /** Sum of the per-image cross-entropy (natural log), for the mean loss. */
  lossSum: number;
  /** confusion[true][predicted], row-major numClasses × numClasses. */
  confusion: number[][];
}

export interface PerClassAccuracy {
  index: number;
  name: string;
  count: number;
  correct: number;
  /** correct / count, or null for a class with no test images. */
  accuracy: number | null;
}

/** The metrics JSON (`metrics.json`, `--json`). Accuracies are fractions in [0, 1]. */
export interface ClassificationMetrics {
  count: number;
  numClasses: number;
  top1: number;
  /** Top-k accuracy with k = `k` = min(5, numClasses) (so it is 1 when there are at most 5 classes). */
  top5: number;
  k: number;
  /** Mean cross-entropy of the logits against the labels (no label smoothing). */
  loss: number;
  /** Mean of the per-class accuracies over the classes that have test images. */
  meanPerClassAccuracy: number;
  perClass: PerClassAccuracy[];
  classNames: string[];
  /** confusion[true][predicted]. */
  confusion: number[][];
}

export function emptyCounts(numClasses: number): ClassificationCounts {
  return {
    numClasses,
    k: Math.min(5, numClasses),
    count: 0,
    correctTop1: 0,
    correctTopK: 0,
    lossSum: 0,
    confusion: Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0)),
  };
}

/**
 * Rank of the true class among the logits: the number of classes whose logit is strictly greater, plus
 * the number of lower-indexed classes with an equal logit (ties go to the lower index, as argmax does).
 * Top-k is correct when rank < k.
 */
export function trueClassRank(logits: ArrayLike<number>, offset: number, numClasses: number, label: number): number {
  const own = logits[offset + label];
  let rank = 0;
  for (let c = 0; c < numClasses; c++) {
    const v = logits[offset + c];
    if (v > own || (v === own && c < label)) rank++;
  }
  return rank;
}

/** Index of the largest logit (the lowest index among ties). */
export function argmax(logits: ArrayLike<number>, offset: number, numClasses: number): number {
  let best = 0;
  for (let c = 1; c < numClasses; c++) if (logits[offset + c] > logits[offset + best]) best = c;
  return best;
}

/** Adds a batch: logits row-major [B, K], labels [B] in [0, K). Mutates and returns `counts`. */
export function accumulate(counts: ClassificationCounts, logits: ArrayLike<number>, labels: ArrayLike<number>): ClassificationCounts {
  const K = counts.numClasses;
  const B = labels.length;
  if (logits.length !== B * K) throw new RangeError(`accumulate: ${logits.length} logits for ${B} labels and ${K} classes`);
  for (let b = 0; b < B; b++) {
    const y = labels[b];
    if (!(Number.isInteger(y) && y >= 0 && y < K)) throw new RangeError(`accumulate: label ${y} outside [0, ${K})`);
    const off = b * K;
    const rank = trueClassRank(logits, off, K, y);
    if (rank === 0) counts.correctTop1++;
    if (rank < counts.k) counts.correctTopK++;
    counts.confusion[y][argmax(logits, off, K)]++;
    // log-sum-exp with the max subtracted, for a stable cross-entropy.
    let max = -Infinity;
    for (let c = 0; c < K; c++) max = Math.max(max, logits[off + c]);
    let sum = 0;
    for (let c = 0; c < K; c++) sum += Math.exp(logits[off + c] - max);
    counts.lossSum += max + Math.log(sum) - logits[off + y];
    counts.count++;
  }
  return counts;
}

/** Sum of two sets of counts over the same classes (exact merge of partial evaluations). */
export function mergeCounts(a: ClassificationCounts, b: ClassificationCounts): ClassificationCounts {
  if (a.numClasses !== b.numClasses) throw new RangeError(`mergeCounts: ${a.numClasses} vs ${b.numClasses} classes`);
  return {
    numClasses: a.numClasses,
    k: a.k,
    count: a.count + b.count,
    correctTop1: a.correctTop1 + b.correctTop1,
    correctTopK: a.correctTopK + b.correctTopK,
    lossSum: a.lossSum + b.lossSum,
    confusion: a.confusion.map((row, i) => row.map((v, j) => v + b.confusion[i][j])),
  };
}

/** The reported metrics from counts; `classNames[i]` names class i (missing names become the index). */
export function finalizeMetrics(counts: ClassificationCounts, classNames: readonly string[] = []): ClassificationMetrics {
  const names = Array.from({ length: counts.numClasses }, (_, i) => classNames[i] ?? String(i));
  const perClass = counts.confusion.map((row, i) => {
    const count = row.reduce((s, v) => s + v, 0);
    const correct = row[i];
    return { index: i, name: names[i], count, correct, accuracy: count > 0 ? correct / count : null };
  });
  const present = perClass.filter((p) => p.accuracy !== null);
  const n = counts.count;
  return {
    count: n,
    numClasses: counts.numClasses,
    top1: n > 0 ? counts.correctTop1 / n : 0,
    top5: n > 0 ? counts.correctTopK / n : 0,
    k: counts.k,
    loss: n > 0 ? counts.lossSum / n : 0,
    meanPerClassAccuracy: present.length > 0 ? present.reduce((s, p) => s + (p.accuracy as number), 0) / present.length : 0,
    perClass,
    classNames: names,
    confusion: counts.confusion.map((row) => row.slice()),
  };
}

/** One-shot: metrics of logits [B, K] against labels [B]. */
export function classificationMetrics(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  numClasses: number,
  classNames: readonly string[] = [],
): ClassificationMetrics {
  return finalizeMetrics(accumulate(emptyCounts(numClasses), logits, labels), classNames);
}

/** "top-1 91.23%  top-5 99.80%  (10000 images, 10 classes)" — the human line of metric commands. */
export function formatMetricsLine(m: ClassificationMetrics): string {
  const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
  return `top-1 ${pct(m.top1)}  top-${m.k} ${pct(m.top5)}  mean per-class ${pct(m.meanPerClassAccuracy)}  (${m.count} images, ${m.numClasses} classes)`;
}

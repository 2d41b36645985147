// Classification metrics against hand-computed cases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  accumulate,
  classificationMetrics,
  emptyCounts,
  finalizeMetrics,
  formatMetricsLine,
  mergeCounts,
  trueClassRank,
} from '../src/metrics/classification.js';

// Four images, three classes. Rows are logits; by hand:
//   img0 label 0: logits [3, 1, 2] → argmax 0, correct; rank 0
//   img1 label 1: logits [0, 1, 5] → argmax 2, wrong; rank 1 (only class 2 is higher)
//   img2 label 2: logits [4, 2, 1] → argmax 0, wrong; rank 2
//   img3 label 2: logits [1, 1, 1] → tie: argmax 0, wrong; rank 2 (classes 0 and 1 tie and come first)
const logits = [3, 1, 2, 0, 1, 5, 4, 2, 1, 1, 1, 1];
const labels = [0, 1, 2, 2];

test('top-1, top-k, per-class accuracy and confusion matrix of a hand-computed case', () => {
  const m = classificationMetrics(logits, labels, 3, ['a', 'b', 'c']);
  assert.equal(m.count, 4);
  assert.equal(m.k, 3); // min(5, 3 classes)
  assert.equal(m.top1, 1 / 4);
  assert.equal(m.top5, 1); // with 3 classes every label is within the top 3
  assert.deepEqual(m.confusion, [
    [1, 0, 0],
    [0, 0, 1],
    [2, 0, 0],
  ]);
  assert.deepEqual(
    m.perClass.map((p) => [p.name, p.count, p.correct, p.accuracy]),
    [
      ['a', 1, 1, 1],
      ['b', 1, 0, 0],
      ['c', 2, 0, 0],
    ],
  );
  assert.equal(m.meanPerClassAccuracy, 1 / 3);
  // Cross-entropy by the direct formula −log softmax(z)[y].
  const ce = (z: number[], y: number) => -Math.log(Math.exp(z[y]) / z.reduce((s, v) => s + Math.exp(v), 0));
  const expected = (ce([3, 1, 2], 0) + ce([0, 1, 5], 1) + ce([4, 2, 1], 2) + ce([1, 1, 1], 2)) / 4;
  assert.ok(Math.abs(m.loss - expected) < 1e-12);
});

test('top-2 through rank: a label ranked second counts for top-k but not top-1', () => {
  assert.equal(trueClassRank([0, 1, 5], 0, 3, 1), 1);
  assert.equal(trueClassRank([4, 2, 1], 0, 3, 2), 2);
  assert.equal(trueClassRank([1, 1, 1], 0, 3, 0), 0);
  // Seven classes: k = 5. Label 6 with four higher logits is in the top 5; with five higher it is not.
  const seven = [9, 8, 7, 6, 0, 0, 5, /* second image */ 9, 8, 7, 6, 5.5, 0, 5];
  const m = classificationMetrics(seven, [6, 6], 7);
  assert.equal(m.k, 5);
  assert.equal(m.top1, 0);
  assert.equal(m.top5, 0.5);
});

test('a class without test images has accuracy null and is left out of the per-class mean', () => {
  const m = classificationMetrics([1, 0, 0, 0, 1, 0], [0, 1], 3);
  assert.equal(m.perClass[2].accuracy, null);
  assert.equal(m.meanPerClassAccuracy, 1);
  assert.deepEqual(m.classNames, ['0', '1', '2']);
});

test('batch-wise accumulation and merging equal the one-shot metrics', () => {
  const a = accumulate(emptyCounts(3), logits.slice(0, 6), labels.slice(0, 2));
  const b = accumulate(emptyCounts(3), logits.slice(6), labels.slice(2));
  const merged = finalizeMetrics(mergeCounts(a, b));
  const whole = classificationMetrics(logits, labels, 3);
  assert.deepEqual(merged, whole);
});

test('bad shapes and labels are rejected', () => {
  assert.throws(() => classificationMetrics([1, 2, 3], [0, 1], 3), RangeError);
  assert.throws(() => classificationMetrics([1, 2, 3], [3], 3), RangeError);
});

test('the human line shows top-1 and top-k as percentages', () => {
  const line = formatMetricsLine(classificationMetrics(logits, labels, 3));
  assert.match(line, /^top-1 25\.00%  top-3 100\.00%/);
  assert.match(line, /4 images, 3 classes/);
});

// Elementwise closeness for numerical tests: |a − e| ≤ tol · max(1, |e|) at every index.
import assert from 'node:assert/strict';

export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-4, what = ''): void {
  assert.equal(actual.length, expected.length, `${what} length`);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol * Math.max(1, Math.abs(expected[i])), `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

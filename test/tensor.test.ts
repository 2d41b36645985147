// Pixels ↔ network values (src/images/tensor.ts) against the formulas written out directly in
// double precision: torchvision's ToTensor + Normalize, and the [−1, 1] range with its inverse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { channelStats, fromSignedUnit, fromTensorOutput, toSignedUnit, toTensorInput, UNIT_RANGE } from '../src/images/tensor.js';
import { Rng } from '../src/util/rng.js';
import { assertClose } from './helpers/close.js';

const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, i) => i);

function randomPixels(n: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: n }, () => rng.int(256));
}

test('toTensorInput is (v/255 − mean[c]) / std[c] per channel of an HWC batch', () => {
  const c = 3;
  const norm = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
  const px = randomPixels(2 * 4 * 5 * c, 1); // [2, 4, 5, 3]
  const want = Array.from(px, (v, i) => (v / 255 - norm.mean[i % c]) / norm.std[i % c]);
  assertClose(toTensorInput(px, c, norm), want, 1e-6);
  // One value applies to every channel.
  const one = { mean: [0.3], std: [0.2] };
  assertClose(toTensorInput(px, c, one), Array.from(px, (v) => (v / 255 - 0.3) / 0.2), 1e-6);
  assertClose(toTensorInput(px, c, UNIT_RANGE), Array.from(px, (v) => v / 255), 1e-7);
});

test('toTensorInput refuses statistics that do not fit the channels', () => {
  const px = new Uint8Array(6);
  assert.throws(() => toTensorInput(px, 3, { mean: [0, 0], std: [1, 1, 1] }), /mean has 2 values for 3 channels/);
  assert.throws(() => toTensorInput(px, 1, { mean: [0], std: [0] }), /std must be positive/);
  assert.throws(() => toTensorInput(px, 0, UNIT_RANGE), /channels must be a positive integer/);
});

test('fromTensorOutput inverts toTensorInput exactly on every byte value', () => {
  for (const norm of [UNIT_RANGE, { mean: [0.2860], std: [0.3530] }, { mean: [0.5], std: [0.5] }, { mean: [0.9], std: [0.01] }]) {
    assert.deepEqual(fromTensorOutput(toTensorInput(ALL_BYTES, 1, norm), 1, norm), ALL_BYTES);
  }
  const norm = { mean: [0.1, 0.5, 0.7], std: [0.2, 0.3, 0.05] };
  const px = randomPixels(3 * 50, 2);
  assert.deepEqual(fromTensorOutput(toTensorInput(px, 3, norm), 3, norm), px);
});

test('fromTensorOutput rounds halves up and clamps to [0, 255]; NaN is 0', () => {
  // On the [0, 1] scale: v = x·255.
  const x = [-0.5, 0, 0.5 / 255, 1.49 / 255, 2.5 / 255, 254.5 / 255, 1, 1.7, Infinity, -Infinity, NaN];
  assert.deepEqual(Array.from(fromTensorOutput(x, 1, UNIT_RANGE)), [0, 0, 1, 1, 3, 255, 255, 255, 255, 0, 0]);
  // Per channel: channel 1 maps x through mean 0.5, std 0.25.
  const y = fromTensorOutput([0.2, 0, 0.2, 2], 2, { mean: [0, 0.5], std: [1, 0.25] });
  assert.deepEqual(Array.from(y), [Math.round(0.2 * 255), Math.round(0.5 * 255), Math.round(0.2 * 255), 255]);
});

test('toSignedUnit is 2v/255 − 1 and fromSignedUnit is round((x + 1)·127.5), clamped', () => {
  const x = toSignedUnit(ALL_BYTES);
  assertClose(x, Array.from(ALL_BYTES, (v) => (2 * v) / 255 - 1), 1e-6);
  assert.equal(x[0], -1);
  assert.equal(x[255], 1);
  assert.deepEqual(fromSignedUnit(x), ALL_BYTES);
  const out = [-1.2, -1, -0.5, 0, 0.5, 1, 3];
  assert.deepEqual(Array.from(fromSignedUnit(out)), out.map((v) => Math.min(255, Math.max(0, Math.floor((v + 1) * 127.5 + 0.5)))));
});

test('channelStats are the per-channel mean and population std of [0, 1] pixels', () => {
  const s = channelStats([Uint8Array.from([0, 255, 255, 255])], 2);
  assertClose(s.mean, [0.5, 1], 1e-12);
  assertClose(s.std, [0.5, 1e-3], 1e-12); // a constant channel gets the floor
  const imgs = [randomPixels(30, 3), randomPixels(30, 4)];
  const got = channelStats(imgs, 3);
  for (let c = 0; c < 3; c++) {
    const vals = imgs.flatMap((img) => Array.from(img).filter((_, i) => i % 3 === c).map((v) => v / 255));
    const mean = vals.reduce((a, b) => a + b, 0) / vals.length;
    const std = Math.sqrt(vals.reduce((a, b) => a + (b - mean) ** 2, 0) / vals.length);
    assertClose([got.mean[c], got.std[c]], [mean, std], 1e-9);
  }
});

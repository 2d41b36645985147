// The FID Inception-v3 against PyTorch: fixtures/make_inception_fixtures.py builds the network independently
// (torchvision's Inception3 with pytorch-fid's FID block patches), fills every tensor of the full-size net by a
// formula both sides compute (the real weights are 95 MB), and stores pool features and logits for two inputs:
// a 299x299 batch (the network alone) and a 40x56 batch (through the bilinear resize and scaling too).
// Runs on WASM (the cpu backend needs minutes for 2 images at 299x299).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { FIDInceptionV3, INCEPTION_CLASSES, INCEPTION_FEATURES } from '../src/models/inception.js';
import { formula, loadFormulaWeights } from './helpers/inception-formula.js';
import { relErr } from '../src/backend/compare.js';

interface Case {
  inputShape: [number, number, number, number];
  pool: number[][];
  logits: number[][];
}
const fixture = JSON.parse(
  readFileSync(fileURLToPath(new URL('../../fixtures/inception/expected.json', import.meta.url)), 'utf8'),
) as { stateDictNames: number; numParameters: number; cases: Case[] };

before(async () => {
  await tf.setBackend('wasm');
});

test('FID Inception-v3 has the state-dict names and parameter count of the PyTorch network', () => {
  const net = new FIDInceptionV3();
  try {
    const names = [...net.stateDict().keys()];
    assert.equal(names.length, fixture.stateDictNames);
    assert.equal(net.numParameters(), fixture.numParameters); // 23,850,960: torchvision's 27,161,264 − aux head + 8 classes
    for (const n of ['Conv2d_1a_3x3.conv.weight', 'Mixed_5b.branch_pool.bn.running_var', 'Mixed_6e.branch7x7dbl_5.conv.weight',
      'Mixed_7c.branch3x3dbl_3b.bn.bias', 'fc.weight', 'fc.bias']) {
      assert.ok(names.includes(n), n);
    }
  } finally {
    net.dispose();
  }
});

test('FID Inception-v3 with formula weights matches PyTorch on pool features and logits (rel. 1e-3)', () => {
  const net = new FIDInceptionV3();
  try {
    loadFormulaWeights(net);

    const before = tf.memory().numTensors;
    for (const c of fixture.cases) {
      const n = c.inputShape.reduce((a, b) => a * b, 1);
      const images = tf.tensor(formula('input', n, (v) => (v + 1) / 2), c.inputShape);
      const { pool, logits } = net.run(images);
      assert.deepEqual(pool.shape, [c.inputShape[0], INCEPTION_FEATURES]);
      assert.deepEqual(logits.shape, [c.inputShape[0], INCEPTION_CLASSES]);
      const ePool = relErr(pool.dataSync(), c.pool.flat());
      const eLogits = relErr(logits.dataSync(), c.logits.flat());
      assert.ok(ePool <= 1e-3, `input ${c.inputShape}: pool features differ by ${ePool}`);
      assert.ok(eLogits <= 1e-3, `input ${c.inputShape}: logits differ by ${eLogits}`);
      tf.dispose([images, pool, logits]);
    }
    assert.equal(tf.memory().numTensors, before, 'forward leaked tensors');
  } finally {
    net.dispose();
  }
});

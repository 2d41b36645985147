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
import { BasicConv2d, FIDInceptionV3, INCEPTION_CLASSES, INCEPTION_FEATURES } from '../src/models/inception.js';
import { Rng } from '../src/util/rng.js';
import { initBackend } from '../src/backend/index.js';
import { formula, loadFormulaWeights } from './helpers/inception-formula.js';
import { relErr } from './helpers/compare.js';

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
  const start = tf.memory().numTensors;
  const net = new FIDInceptionV3();
  try {
    loadFormulaWeights(net);

    let warm: number | undefined;
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
      // The first call folds each BatchNorm into its conv and keeps the folds; later calls add nothing.
      if (warm === undefined) warm = tf.memory().numTensors;
      else assert.equal(tf.memory().numTensors, warm, 'forward leaked tensors');
    }
  } finally {
    net.dispose();
  }
  assert.equal(tf.memory().numTensors, start, 'the network and its folds freed');
});

test('eval BasicConv2d folds BN into the filter once, folds again when any of its variables changes, and frees the fold', async () => {
  await initBackend('wasm'); // with synthaug's gradient kernels, for the check under a gradient tape
  const before = tf.memory().numTensors;
  const c = new BasicConv2d(3, 4, 3, new Rng(1), { padding: 1 });
  const x = tf.randomNormal([2, 5, 5, 3], 0, 1, 'float32', 3);
  const ev = { training: false };
  // The reference: conv, then BatchNorm with the running statistics, then ReLU (nothing folded).
  const direct = () => tf.tidy(() => tf.relu(c.bn.forward(c.conv.forward(x), ev)).dataSync());
  const check = (what: string) => {
    const got = tf.tidy(() => c.forward(x, ev).dataSync());
    const err = relErr(got, direct());
    assert.ok(err < 1e-5, `${what}: relative error ${err}`);
  };
  const kernels = async () => (await tf.profile(() => tf.dispose(c.forward(x, ev)))).kernels.map((k) => k.name).filter((n) => !n.endsWith('__op'));
  try {
    tf.tidy(() => {
      c.bn.runningMean.assign(tf.tensor1d([0.1, -0.2, 0.3, 0]));
      c.bn.runningVar.assign(tf.tensor1d([0.5, 2, 1, 0.25]));
    });
    check('first call');
    assert.deepEqual(await kernels(), ['FusedConv2D']); // folded already: the conv alone
    const changes: Array<[string, tf.Variable, tf.Tensor]> = [
      ['running_var', c.bn.runningVar, tf.tensor1d([1.5, 0.1, 3, 1])],
      ['running_mean', c.bn.runningMean, tf.tensor1d([-1, 0.5, 0, 2])],
      ['bn.weight', c.bn.weight, tf.tensor1d([0.5, -1, 2, 1])],
      ['bn.bias', c.bn.bias, tf.tensor1d([0.3, 0.3, -0.3, 1])],
      ['conv.weight', c.conv.weight, tf.mul(c.conv.weight, -2)],
    ];
    for (const [what, v, t] of changes) {
      v.assign(t);
      t.dispose();
      assert.ok((await kernels()).includes('Rsqrt'), `${what}: folded again`);
      check(`after a new ${what}`);
    }
    const shifted = new Map([...c.stateDict()].map(([k, v]) => [k, tf.add(v, 0.25)]));
    c.loadStateDict(shifted);
    tf.dispose([...shifted.values()]);
    check('after loadStateDict');
    // Under a gradient tape the fold is recomputed, so that the gradient reaches the conv weight.
    const g = tf.variableGrads(() => tf.sum(c.forward(x, ev)) as tf.Scalar, [c.conv.weight]);
    const want = tf.variableGrads(() => tf.sum(tf.relu(c.bn.forward(c.conv.forward(x), ev))) as tf.Scalar, [c.conv.weight]);
    assert.ok(relErr(g.grads[c.conv.weight.name].dataSync(), want.grads[c.conv.weight.name].dataSync()) < 1e-5);
    tf.dispose([g.value, want.value, ...Object.values(g.grads), ...Object.values(want.grads)]);
  } finally {
    c.dispose();
    x.dispose();
  }
  assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
});

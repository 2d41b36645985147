// Classifier architectures, the PyTorch reference, the classifier directory and the feature
// extractor, on the cpu backend.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs'; // registers the gradient functions (tfjs-core alone has none)
import { createClassifier, listArchitectures } from '../src/models/registry.js';
import type { ClassifierConfig } from '../src/models/classifier.js';
import { fromTorchLayout, importTorchState } from '../src/models/torch.js';
import { loadClassifier, saveClassifier } from '../src/models/store.js';
import { classifierExtractor } from '../src/models/extractor.js';
import { decodeSafetensors, readSafetensors } from '../src/nn/safetensors.js';
import { InputError, UsageError } from '../src/errors.js';
import { Rng } from '../src/util/rng.js';
import { assertClose } from './helpers/close.js';

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'models');
const EVAL = { training: false };

before(async () => {
  await tf.setBackend('cpu');
});

function randomInput(shape: number[], seed: number): tf.Tensor {
  const rng = new Rng(seed);
  return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()), shape);
}

// Trainable parameter counts known independently: torchvision's resnet18/resnet50 at 1000 classes,
// timm's vit_small_patch16_224, and the CIFAR ResNets of He et al. 2016 Table 6 (0.27M, 0.85M;
// option A adds no parameters, so the counts are exact sums of convs, BNs and the 64→10 head).
test('parameter counts match the published architectures', () => {
  const cases: Array<[ClassifierConfig, number]> = [
    [{ arch: 'resnet20', numClasses: 10, inputShape: [32, 32, 3] }, 269_722],
    [{ arch: 'resnet56', numClasses: 10, inputShape: [32, 32, 3] }, 853_018],
    [{ arch: 'resnet20', numClasses: 10, inputShape: [32, 32, 3], options: { shortcut: 'B' } }, 269_722 + (16 * 32 + 64) + (32 * 64 + 128)],
    [{ arch: 'resnet18', numClasses: 1000, inputShape: [224, 224, 3] }, 11_689_512],
    [{ arch: 'resnet50', numClasses: 1000, inputShape: [224, 224, 3] }, 25_557_032],
    [{ arch: 'vit', numClasses: 1000, inputShape: [224, 224, 3], options: { patch: 16, dim: 384, depth: 12, heads: 6 } }, 22_050_664],
  ];
  for (const [config, expected] of cases) {
    const model = createClassifier(config, 0);
    assert.equal(model.numParameters(), expected, `${config.arch} ${JSON.stringify(config.options ?? {})}`);
    model.dispose();
  }
});

test('output and feature shapes for small grey and RGB images, without leaking tensors', () => {
  const cases: Array<[ClassifierConfig, number]> = [
    [{ arch: 'resnet20', numClasses: 10, inputShape: [28, 28, 1] }, 64],
    [{ arch: 'resnet20', numClasses: 10, inputShape: [32, 32, 3], options: { shortcut: 'B' } }, 64],
    [{ arch: 'resnet20', numClasses: 5, inputShape: [8, 8, 3] }, 64],
    [{ arch: 'resnet18', numClasses: 7, inputShape: [32, 32, 3], options: { stem: 'cifar', width: 8 } }, 64],
    [{ arch: 'resnet50', numClasses: 7, inputShape: [64, 64, 3], options: { width: 4 } }, 128],
    [{ arch: 'vit', numClasses: 10, inputShape: [28, 28, 1], options: { depth: 1 } }, 192],
    [{ arch: 'vit', numClasses: 10, inputShape: [32, 32, 3], options: { dim: 48, depth: 2 } }, 48],
  ];
  for (const [config, dim] of cases) {
    const model = createClassifier(config, 1);
    assert.equal(model.featureDim, dim);
    const x = randomInput([2, ...config.inputShape], 5);
    for (const training of [false, true]) {
      const before = tf.memory().numTensors;
      const logits = model.forward(x, { training });
      const features = model.features(x, { training });
      assert.deepEqual(logits.shape, [2, config.numClasses], config.arch);
      assert.deepEqual(features.shape, [2, dim], config.arch);
      logits.dispose();
      features.dispose();
      assert.equal(tf.memory().numTensors, before, `${config.arch} training=${training} leaks no tensors`);
    }
    const features = model.features(x, EVAL);
    const viaHead = model.logits(features);
    const direct = model.forward(x, EVAL);
    assertClose(viaHead.dataSync(), direct.dataSync(), 1e-6, 'logits(features(x)) = forward(x)');
    tf.dispose([x, features, viaHead, direct]);
    model.dispose();
  }
});

test('eval forward matches the PyTorch reference (torchvision blocks, nn.TransformerEncoderLayer)', async () => {
  for (const name of ['resnet20_a', 'resnet20_b', 'resnet18', 'resnet50', 'vit']) {
    const path = join(FIXTURES, `${name}.safetensors`);
    const { tensors, metadata } = await readSafetensors(path);
    const io = (await readSafetensors(join(FIXTURES, `${name}.io.safetensors`))).tensors;
    const config = JSON.parse(metadata.config) as ClassifierConfig;
    const model = createClassifier(config, 123);
    importTorchState(model, tensors, path);
    const input = io.get('input')!;
    const x = tf.tensor(input.data as Float32Array, input.shape);
    const logits = model.forward(x, EVAL);
    const features = model.features(x, EVAL);
    assertClose(logits.dataSync(), io.get('logits')!.data as Float32Array, 1e-4, `${name} logits`);
    assertClose(features.dataSync(), io.get('features')!.data as Float32Array, 1e-4, `${name} features`);
    tf.dispose([x, logits, features]);
    model.dispose();
  }
});

test('the same seed builds the same weights; another seed builds others', () => {
  const config: ClassifierConfig = { arch: 'vit', numClasses: 3, inputShape: [8, 8, 1], options: { dim: 16, depth: 1, heads: 2 } };
  const [a, b, c] = [createClassifier(config, 7), createClassifier(config, 7), createClassifier(config, 8)];
  for (const [name, v] of a.stateDict()) {
    assert.deepEqual(v.dataSync(), b.stateDict().get(name)!.dataSync(), name);
  }
  assert.notDeepEqual(a.stateDict().get('blocks.0.attn.qkv.weight')!.dataSync(), c.stateDict().get('blocks.0.attn.qkv.weight')!.dataSync());
  [a, b, c].forEach((m) => m.dispose());
});

test('zeroInitResidual zeroes the last BN gamma of every block', () => {
  const model = createClassifier({ arch: 'resnet50', numClasses: 3, inputShape: [32, 32, 3], options: { width: 2, zeroInitResidual: true } }, 0);
  const state = model.stateDict();
  assert.deepEqual(Array.from(state.get('layer3.5.bn3.weight')!.dataSync()), new Array(32).fill(0));
  assert.ok(state.get('layer3.5.bn2.weight')!.dataSync().every((v) => v === 1));
  model.dispose();
  const cifar = createClassifier({ arch: 'resnet20', numClasses: 3, inputShape: [8, 8, 1], options: { zeroInitResidual: 'true' } }, 0);
  assert.ok(cifar.stateDict().get('layer2.2.bn2.weight')!.dataSync().every((v) => v === 0));
  cifar.dispose();
});

test('bad architecture names, options and shapes are usage errors', () => {
  const base = { numClasses: 3, inputShape: [28, 28, 1] as [number, number, number] };
  assert.throws(() => createClassifier({ ...base, arch: 'lenet' }, 0), (e: Error) => e instanceof UsageError && /Expected one of resnet20\|.*vit for --arch but received "lenet"/.test(e.message));
  assert.throws(() => createClassifier({ ...base, arch: 'vit', options: { patch: 5 } }, 0), /patch size 5 does not divide the 28x28 input/);
  assert.throws(() => createClassifier({ ...base, arch: 'vit', options: { heads: 5 } }, 0), /5 heads do not divide dim 192/);
  assert.throws(() => createClassifier({ ...base, arch: 'vit', options: { patches: 4 } }, 0), (e: Error) => e instanceof UsageError && /unknown option "patches" for architecture vit/.test(e.message));
  assert.throws(() => createClassifier({ ...base, arch: 'resnet18', options: { stem: 'tiny' } }, 0), /Expected one of imagenet\|cifar for resnet18 option stem but received "tiny"/);
  assert.throws(() => createClassifier({ ...base, arch: 'resnet20', options: { width: -2 } }, 0), /positive integer for resnet20 option width/);
  assert.throws(() => createClassifier({ ...base, arch: 'resnet20', numClasses: 0 }, 0), UsageError);
  assert.throws(() => createClassifier({ ...base, arch: 'resnet20', options: { width: 5 } }, 0), (e: Error) => e instanceof UsageError && /use an even width or shortcut B/.test(e.message));
  assert.ok(listArchitectures().some((a) => a.name === 'resnet50' && a.description.length > 0));
});

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'synthaug-models-'));
}

test('a classifier directory round-trips, in PyTorch layout, and loads the reference weights unchanged', async () => {
  // Load the PyTorch fixture, save it as a directory: the saved tensors must equal PyTorch's state_dict.
  const ref = await readSafetensors(join(FIXTURES, 'resnet20_a.safetensors'));
  const config = JSON.parse(ref.metadata.config) as ClassifierConfig;
  const model = createClassifier(config, 0);
  importTorchState(model, ref.tensors, 'fixture');
  const parent = tmp();
  const dir = join(parent, 'clf');
  const info = { classNames: ['cat', 'dog', 'eel'], normalization: { mean: [0.5], std: [0.25] }, provenance: { command: 'test' } };
  await saveClassifier(dir, model, info);
  assert.deepEqual(readdirSync(parent), ['clf'], 'no temporary left behind');
  assert.deepEqual(readdirSync(dir).sort(), ['config.json', 'model.safetensors']);
  const saved = decodeSafetensors(readFileSync(join(dir, 'model.safetensors'))).tensors;
  assert.deepEqual([...saved.keys()].sort(), [...ref.tensors.keys()].sort(), 'same names as the PyTorch state_dict');
  for (const [name, t] of ref.tensors) {
    if (name.endsWith('num_batches_tracked')) continue;
    assert.deepEqual(saved.get(name)!.shape, t.shape, name);
    assert.deepEqual(saved.get(name)!.data, t.data, name);
  }
  const json = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  assert.equal(json.kind, 'classifier');
  assert.equal(json.format, 1);
  assert.equal(json.arch, 'resnet20');
  assert.deepEqual(json.inputShape, [8, 8, 1]);
  assert.deepEqual(json.options, { shortcut: 'A', width: 4, zeroInitResidual: false });
  assert.deepEqual(json.classNames, info.classNames);
  assert.deepEqual(json.normalization, info.normalization);
  assert.deepEqual(json.provenance, info.provenance);
  assert.match(json.weights.sha256, /^[0-9a-f]{64}$/);

  const { model: loaded, config: loadedConfig } = await loadClassifier(dir);
  assert.deepEqual(loadedConfig.classNames, info.classNames);
  const x = randomInput([3, 8, 8, 1], 9);
  const [a, b] = [model.forward(x, EVAL), loaded.forward(x, EVAL)];
  assert.deepEqual(a.dataSync(), b.dataSync());
  for (const [name, v] of model.stateDict()) assert.deepEqual(loaded.stateDict().get(name)!.dataSync(), v.dataSync(), name);

  // Overwriting (a refreshed checkpoint) replaces both files and leaves no temporaries.
  loaded.stateDict().get('fc.bias')!.assign(tf.tensor1d([1, 2, 3]));
  await saveClassifier(dir, loaded, { ...info, provenance: { step: 2 } });
  assert.deepEqual(readdirSync(dir).sort(), ['config.json', 'model.safetensors']);
  const again = await loadClassifier(dir);
  assert.deepEqual(Array.from(again.model.stateDict().get('fc.bias')!.dataSync()), [1, 2, 3]);
  assert.deepEqual(again.config.provenance, { step: 2 });
  tf.dispose([x, a, b]);
  [model, loaded, again.model].forEach((m) => m.dispose());
});

test('saving checks class names and normalisation against the model', async () => {
  const model = createClassifier({ arch: 'resnet20', numClasses: 2, inputShape: [8, 8, 3], options: { width: 4 } }, 0);
  const dir = join(tmp(), 'x');
  await assert.rejects(saveClassifier(dir, model, { classNames: ['a'], normalization: { mean: [0, 0, 0], std: [1, 1, 1] } }), /1 class names given for a classifier with 2 classes/);
  await assert.rejects(saveClassifier(dir, model, { classNames: ['a', 'b'], normalization: { mean: [0], std: [1] } }), /normalization needs 3 finite means/);
  model.dispose();
});

test('loading a directory that is not a classifier gives an error naming the path', async () => {
  const root = tmp();
  await assert.rejects(loadClassifier(join(root, 'nothing')), (e: Error) => e instanceof InputError && e.message.includes(join(root, 'nothing', 'config.json')));
  const model = createClassifier({ arch: 'resnet20', numClasses: 2, inputShape: [8, 8, 1], options: { width: 4 } }, 0);
  const dir = join(root, 'clf');
  await saveClassifier(dir, model, { classNames: ['a', 'b'], normalization: { mean: [0], std: [1] } });
  model.dispose();
  const original = readFileSync(join(dir, 'config.json'), 'utf8');
  const edit = (patch: Record<string, unknown>) => writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...JSON.parse(original), ...patch }));
  const configPath = join(dir, 'config.json');
  edit({ kind: 'diffusion' });
  await assert.rejects(loadClassifier(dir), (e: Error) => e instanceof InputError && e.message.includes(configPath) && /kind is "diffusion"/.test(e.message));
  edit({ format: 2 });
  await assert.rejects(loadClassifier(dir), (e: Error) => e.message.includes(configPath) && /format 2 is not supported/.test(e.message));
  edit({ classNames: ['a'] });
  await assert.rejects(loadClassifier(dir), /classNames must list 2 names/);
  writeFileSync(configPath, '{"kind": "classifier",');
  await assert.rejects(loadClassifier(dir), (e: Error) => e.message.includes(configPath) && /not valid JSON/.test(e.message));
  // Weights that no longer match config.json's digest, and truncated weights.
  writeFileSync(configPath, original);
  const weightsPath = join(dir, 'model.safetensors');
  const weights = readFileSync(weightsPath);
  writeFileSync(weightsPath, weights.subarray(0, weights.length - 100));
  await assert.rejects(loadClassifier(dir), (e: Error) => e instanceof InputError && e.message.includes(weightsPath) && /sha256/.test(e.message));
  const noDigest = JSON.parse(original);
  delete noDigest.weights.sha256;
  writeFileSync(configPath, JSON.stringify(noDigest));
  await assert.rejects(loadClassifier(dir), (e: Error) => e instanceof InputError && e.message.includes(weightsPath) && /truncated/.test(e.message));
  // Weights of another architecture.
  mkdirSync(join(root, 'other'));
  const vit = JSON.parse(original);
  Object.assign(vit, { arch: 'vit', options: { dim: 16, depth: 1, heads: 2 }, weights: { file: 'model.safetensors' } });
  writeFileSync(join(root, 'other', 'config.json'), JSON.stringify(vit));
  writeFileSync(join(root, 'other', 'model.safetensors'), weights);
  await assert.rejects(loadClassifier(join(root, 'other')), /weights do not match the architecture: missing \[cls_token/);
});

test('classifierExtractor normalises uint8 images and returns the penultimate features and logits', async () => {
  const model = createClassifier({ arch: 'resnet20', numClasses: 3, inputShape: [8, 8, 3], options: { width: 4 } }, 4);
  const dir = join(tmp(), 'clf');
  const normalization = { mean: [0.4, 0.5, 0.6], std: [0.2, 0.25, 0.3] };
  await saveClassifier(dir, model, { classNames: ['a', 'b', 'c'], normalization });
  const extractor = await classifierExtractor(dir);
  assert.deepEqual(extractor.inputShape, [8, 8, 3]);
  assert.equal(extractor.featureDim, 16);
  assert.equal(extractor.numClasses, 3);
  const rng = new Rng(3);
  const images = Uint8Array.from({ length: 2 * 8 * 8 * 3 }, () => rng.int(256));
  const before = tf.memory().numTensors;
  const { features, logits } = await extractor.extract(images, 2);
  assert.equal(tf.memory().numTensors, before, 'extract leaks no tensors');
  // Independent path: normalise with a direct per-element formula, run the original model.
  const xs = Float32Array.from(images, (v, i) => (v / 255 - normalization.mean[i % 3]) / normalization.std[i % 3]);
  const x = tf.tensor4d(xs, [2, 8, 8, 3]);
  const f = model.features(x, EVAL);
  const l = model.forward(x, EVAL);
  assertClose(features, f.dataSync(), 1e-5, 'features');
  assertClose(logits, l.dataSync(), 1e-5, 'logits');
  await assert.rejects(extractor.extract(images.subarray(1), 2), /expected 2 images of 8x8x3/);
  tf.dispose([x, f, l]);
  extractor.dispose();
  model.dispose();
});

test('training-mode gradients match PyTorch autograd (batch-statistics BN, option-A/B shortcuts, attention, GELU)', async () => {
  // Needs the gradient functions that the @tensorflow/tfjs bundle registers (tfjs-core alone has none).
  for (const name of ['resnet20_a', 'resnet20_b', 'vit']) {
    const path = join(FIXTURES, `${name}.safetensors`);
    const { tensors, metadata } = await readSafetensors(path);
    const io = (await readSafetensors(join(FIXTURES, `${name}.io.safetensors`))).tensors;
    const model = createClassifier(JSON.parse(metadata.config) as ClassifierConfig, 0);
    importTorchState(model, tensors, path);
    const input = io.get('input')!;
    const r = io.get('grad_weights')!;
    const [x, rt] = [tf.tensor(input.data as Float32Array, input.shape), tf.tensor(r.data as Float32Array, r.shape)];
    const params = model.namedParameters();
    const { grads } = tf.variableGrads(() => tf.sum(tf.mul(model.forward(x, { training: true }), rt)) as tf.Scalar, params.map(([, v]) => v));
    for (const [pname, v] of params) {
      const ref = io.get(`grad.${pname}`);
      assert.ok(ref, `${name}: reference gradient for ${pname}`);
      const expected = fromTorchLayout(pname, tf.tensor(ref.data as Float32Array, ref.shape));
      assert.deepEqual(grads[v.name].shape, expected.shape, pname);
      assertClose(grads[v.name].dataSync(), expected.dataSync(), 1e-4, `${name} d/d${pname}`);
      expected.dispose();
    }
    tf.dispose([x, rt, ...Object.values(grads)]);
    model.dispose();
  }
});

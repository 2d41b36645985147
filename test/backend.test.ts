// The backend ladder, the --backend option, that a training step leaks no tensors on WASM, and the WASM heap's end.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import yargs from 'yargs';
import * as tf from '@tensorflow/tfjs-core';
import { defaultBackend, initBackend } from '../src/backend/index.js';
import { backendOption } from '../src/backend/cli.js';
import { UsageError } from '../src/errors.js';
import { createClassifier } from '../src/models/registry.js';
import { Rng } from '../src/util/rng.js';
import { nativeMissing } from './helpers/native.js';

const nativeInstalled = (() => {
  try {
    createRequire(import.meta.url).resolve('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
})();

const nativeBuilt = nativeMissing === undefined;

describe('backend ladder', () => {
  test('auto falls through the absent tfjs-node bindings to native (where built) or WASM and says why', async (t) => {
    if (nativeInstalled) return t.skip('@tensorflow/tfjs-node is installed here');
    const info = await initBackend('auto');
    assert.equal(info.name, 'wasm');
    assert.equal(tf.getBackend(), 'wasm');
    assert.match(info.reasons[0], /@tensorflow\/tfjs-node-gpu unavailable: .*\(to get it: needs an NVIDIA GPU/);
    assert.match(info.reasons[1], /@tensorflow\/tfjs-node unavailable: .*\(to get it: npm install @tensorflow\/tfjs-node\)/);
    // The oneDNN addon is taken where it is built, else its absence is the third line, with the remedy.
    if (nativeBuilt) {
      assert.equal(info.kind, 'native');
      assert.match(info.reasons.at(-1)!, /^using native/);
    } else {
      assert.match(info.reasons[2], /^native .* unavailable: the oneDNN addon is not built; to get it: apt-get install libdnnl-dev/);
      assert.match(info.reasons.at(-1)!, /^using wasm/);
    }
    assert.ok(info.threads !== undefined && info.threads >= 1);
  });

  test('an explicit choice that cannot load is a usage error naming the reason', async (t) => {
    if (nativeInstalled) return t.skip('@tensorflow/tfjs-node is installed here');
    await assert.rejects(initBackend('tensorflow'), (err: unknown) => {
      assert.ok(err instanceof UsageError);
      assert.match(err.message, /--backend tensorflow cannot be used here: .*tfjs-node/);
      return true;
    });
  });

  test('--backend native where the addon is not built is a usage error naming the remedy', async (t) => {
    if (nativeBuilt) return t.skip('the oneDNN addon is built here');
    await assert.rejects(initBackend('native'), (err: unknown) => {
      assert.ok(err instanceof UsageError);
      assert.match(err.message, /--backend native cannot be used here: .*apt-get install libdnnl-dev g\+\+ make/);
      return true;
    });
  });

  test('explicit cpu and wasm switch the active backend; a repeated call returns the same result', async () => {
    assert.equal((await initBackend('cpu')).name, 'cpu');
    assert.equal(tf.getBackend(), 'cpu');
    const a = await initBackend('wasm');
    const b = await initBackend('wasm');
    assert.equal(a, b);
    assert.equal(tf.getBackend(), 'wasm');
    // gradients and chained ops are registered: tfjs-core alone has neither
    const g = tf.grad((x: tf.Tensor) => x.square().sum())(tf.tensor1d([1, 2, 3]));
    assert.deepEqual(Array.from(g.dataSync()), [2, 4, 6]);
  });

  test('SYNTHAUG_BACKEND sets the default; a bad value is a usage error', () => {
    assert.equal(defaultBackend({}), 'auto');
    assert.equal(defaultBackend({ SYNTHAUG_BACKEND: 'cpu' }), 'cpu');
    assert.throws(() => defaultBackend({ SYNTHAUG_BACKEND: 'gpu' }), UsageError);
  });

  test('--backend takes the listed choices with default auto', async () => {
    const parse = (argv: string[]) => backendOption(yargs(argv)).exitProcess(false).fail((msg) => { throw new Error(msg); }).parseSync();
    assert.equal(parse([]).backend, process.env.SYNTHAUG_BACKEND || 'auto');
    assert.equal(parse(['--backend', 'wasm']).backend, 'wasm');
    assert.throws(() => parse(['--backend', 'gpu']), /Invalid values/);
    assert.equal(parse(['--backend', 'wasm', '--backend', 'cpu']).backend, 'cpu', 'given twice, the last counts');
    assert.throws(() => parse(['--backend', 'wasm', '--backend', 'gpu']), /Invalid values/);
  });
});

describe('WASM threads', () => {
  const script = `
    const { initBackend } = await import(${JSON.stringify(new URL('../src/backend/index.js', import.meta.url).href)});
    const tf = await import('@tensorflow/tfjs-core');
    const info = await initBackend('wasm');
    const x = tf.randomNormal([8, 16, 16, 8], 0, 1, 'float32', 1);
    const w = tf.randomNormal([3, 3, 8, 8], 0, 1, 'float32', 2);
    const y = tf.conv2d(x, w, 1, 'same').dataSync();
    // Gradients through synthaug's WASM kernels (conv filter/input gradients with the SIMD layout module,
    // BatchNorm and GroupNorm on the SIMD channel module, BatchMatMul with a transposed operand), which
    // load a different .wasm for the single-threaded build's unshared memory.
    const { BatchNorm, GroupNorm } = await import(${JSON.stringify(new URL('../src/nn/index.js', import.meta.url).href)});
    const bn = new BatchNorm(8);
    const gn = new GroupNorm(2, 8);
    const r = tf.randomNormal([8, 16, 16, 8], 0, 1, 'float32', 3);
    const loss = (a, b) => tf.sum(tf.mul(gn.forward(bn.forward(tf.conv2d(a, b, 1, 'same'), { training: true })), r));
    const [gx, gw] = tf.grads(loss)([x, w]);
    const m = tf.matMul(tf.reshape(x, [256, 64]), tf.reshape(gx, [256, 64]), true, false);
    const sum = (t) => t.dataSync().reduce((a, b) => a + Math.abs(b), 0);
    process.stdout.write(JSON.stringify({ threads: info.threads, sum: y.reduce((a, b) => a + b, 0), grads: [sum(gx), sum(gw), sum(m)] }));`;
  const runWith = (threads: string) => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, SYNTHAUG_WASM_THREADS: threads }, encoding: 'utf8', timeout: 60_000,
    });
    assert.equal(r.status, 0, `exit ${r.status} signal ${r.signal}: ${r.stderr}`); // and it exits by itself
    return JSON.parse(r.stdout) as { threads: number; sum: number; grads: number[] };
  };

  test('SYNTHAUG_WASM_THREADS picks the pool size; outputs and gradients agree; the process exits when done', () => {
    const one = runWith('1');
    assert.equal(one.threads, 1);
    const two = runWith('2');
    assert.equal(two.threads, 2);
    assert.ok(Math.abs(one.sum - two.sum) <= 1e-3 * Math.max(1, Math.abs(one.sum)), `${one.sum} vs ${two.sum}`);
    one.grads.forEach((g, i) => assert.ok(Math.abs(g - two.grads[i]) <= 1e-3 * Math.max(1, g), `gradient ${i}: ${g} vs ${two.grads[i]}`));
  });

  test('by default WASM uses every available core (at most 8)', async () => {
    const info = await initBackend('wasm');
    if (process.env.SYNTHAUG_WASM_THREADS) return;
    assert.equal(info.threads, Math.min(os.availableParallelism(), 8));
  });
});

/** Seeded normal tensor. */
function noise(rng: Rng, shape: number[], scale = 1): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: n }, () => scale * rng.normal()), shape);
}

describe('no leaks on WASM', () => {
  test('a raw-op conv net training step leaves the tensor count unchanged', async () => {
    await initBackend('wasm');
    const rng = new Rng(3);
    const w1 = tf.variable(noise(rng, [3, 3, 3, 8], 0.3));
    const w2 = tf.variable(noise(rng, [3, 3, 8, 8], 0.2));
    const gamma = tf.variable(tf.ones([8]));
    const beta = tf.variable(tf.zeros([8]));
    const dense = tf.variable(noise(rng, [8, 5], 0.3));
    const x = noise(rng, [4, 12, 12, 3]);
    const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 4], 'int32'), 5);
    const opt = tf.train.adam(1e-3);
    const step = () => {
      const { value, grads } = tf.variableGrads(() => {
        let h = tf.conv2d(x as tf.Tensor4D, w1 as tf.Tensor4D, 2, 'same'); // [4, 6, 6, 8]
        const { mean, variance } = tf.moments(h, [0, 1, 2]);
        h = tf.relu(tf.add(tf.mul(tf.div(tf.sub(h, mean), tf.sqrt(tf.add(variance, 1e-5))), gamma), beta));
        h = tf.maxPool(h as tf.Tensor4D, 3, 2, 'same'); // [4, 3, 3, 8]
        h = tf.relu(tf.conv2d(h as tf.Tensor4D, w2 as tf.Tensor4D, 1, 'same'));
        const logits = tf.matMul(tf.mean(h, [1, 2]), dense);
        return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
      });
      opt.applyGradients(grads as Record<string, tf.Variable>);
      const loss = value.dataSync()[0];
      tf.dispose([value, ...Object.values(grads)]);
      return loss;
    };
    const first = step(); // creates the optimizer's moment variables
    const after = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) step();
    const last = step();
    assert.equal(tf.memory().numTensors, after);
    assert.ok(last < first, `loss ${first} → ${last} went down`);
    opt.dispose();
    tf.dispose([w1, w2, gamma, beta, dense, x, labels]);
  });

  for (const [arch, inputShape, options] of [
    ['resnet20', [16, 16, 3], { width: 8 }],
    ['vit', [16, 16, 3], { patch: 4, dim: 24, depth: 2, heads: 2 }],
  ] as const) {
    test(`a ${arch} training step (forward, loss, gradients, optimizer) leaves the tensor count unchanged`, async () => {
      await initBackend('wasm');
      const model = createClassifier({ arch, numClasses: 4, inputShape: [...inputShape], options }, 7);
      const rng = new Rng(5);
      const x = noise(rng, [4, ...inputShape]);
      const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3], 'int32'), 4);
      const opt = tf.train.momentum(0.01, 0.9);
      const params = model.namedParameters().map(([, v]) => v);
      const step = () => {
        const { value, grads } = tf.variableGrads(
          () => tf.losses.softmaxCrossEntropy(labels, model.forward(x, { training: true })) as tf.Scalar, params);
        opt.applyGradients(grads as Record<string, tf.Variable>);
        tf.dispose([value, ...Object.values(grads)]);
      };
      step();
      const after = tf.memory().numTensors;
      const bytes = tf.memory().numBytes;
      step();
      step();
      assert.equal(tf.memory().numTensors, after);
      assert.equal(tf.memory().numBytes, bytes);
      opt.dispose();
      model.dispose();
      tf.dispose([x, labels]);
    });
  }
});

describe('WASM heap end', () => {
  // In a child process: the heap grown to its 4 GiB end stays so for the life of the process. The
  // allocations are never written, so they cost address space, not memory.
  const script = `
    const { initBackend, HeapExhausted } = await import(${JSON.stringify(new URL('../src/backend/index.js', import.meta.url).href)});
    const tf = await import('@tensorflow/tfjs-core');
    await initBackend(process.argv[1]);
    const backend = tf.backend();
    const refused = (shape) => {
      try {
        backend.disposeData(backend.makeOutput(shape, 'float32').dataId);
        return 'allocated';
      } catch (err) {
        return err instanceof HeapExhausted ? err.message : 'other: ' + err.message;
      }
    };
    const over4GiB = refused([2 ** 30 + 1]);
    const first = backend.makeOutput([550e6], 'float32'); // 2.2 GB: fits
    const second = refused([550e6]); // another 2.2 GB: past the end
    backend.disposeData(first.dataId);
    // The allocator is intact: a small computation after the refusal is right.
    const sum = tf.sum(tf.add(tf.range(0, 1000), 1)).dataSync()[0];
    process.stdout.write(JSON.stringify({ over4GiB, second, sum }));`;

  // One rung is enough: wasm and native start the same WASM module, through one activation.
  const choice = nativeBuilt ? 'native' : 'wasm';
  test(`${choice}: an allocation past the 4 GiB end throws HeapExhausted instead of placing the tensor at address 0`, () => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, choice], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, `exit ${r.status} signal ${r.signal}: ${r.stderr}`);
    const out = JSON.parse(r.stdout) as { over4GiB: string; second: string; sum: number };
    assert.match(out.over4GiB, /^the WASM heap is full: 4096\.0 MiB more did not fit .*at most 4 GiB/);
    assert.match(out.second, /^the WASM heap is full: 2098\.1 MiB more did not fit in its \d\.\d\d GiB \(tfjs's WASM backend addresses at most 4 GiB\)$/);
    assert.equal(out.sum, 500500);
  });
});

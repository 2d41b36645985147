// The SIMD channel kernels of the WASM backend (src/backend/wasm/channels.wat) and the normalisation
// layers built on them: kernel outputs vs the plain-ops definitions on cpu, and BatchNorm/GroupNorm/LayerNorm
// forward and gradients on wasm vs autodiff of their plain formulas.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { channelAffine, channelDot, channelSum } from '../src/nn/channels.js';
import { BatchNorm, GroupNorm, LayerNorm } from '../src/nn/index.js';
import { Rng } from '../src/util/rng.js';
import { assertClose } from './helpers/close.js';
import { checkNormGradients, plainBatchNorm, plainGroupNorm, plainLayerNorm } from './helpers/norm.js';

before(async () => {
  await import('@tensorflow/tfjs-backend-cpu');
  assert.equal((await initBackend('wasm')).name, 'wasm');
});

function randomValues(n: number, rng: Rng, scale = 1, shift = 0): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal() * scale + shift);
}

/** Runs `f` on `backend` with fresh tensors of the given values; returns each output's values and the kernels run. */
async function on(backend: string, inputs: { values: Float32Array; shape: number[] }[], f: (...ts: tf.Tensor[]) => tf.Tensor[]) {
  await tf.setBackend(backend);
  const ts = inputs.map(({ values, shape }) => tf.tensor(values, shape));
  let outs: Float32Array[] = [];
  const info = await tf.profile(() => {
    const ys = f(...ts);
    outs = ys.map((y) => y.dataSync() as Float32Array);
    tf.dispose(ys);
  });
  tf.dispose(ts);
  return { outs, kernels: new Set(info.kernels.map((k) => k.name)) };
}

describe('channel kernels on wasm vs the tfjs-ops definitions on cpu', () => {
  // Rows per image of 300 cross the 256-row blocks of the reductions; C = 8 and 12 take the SIMD
  // kernels, C = 6 the tfjs-ops path (the kernels need a multiple of 4).
  const shapes = [[3, 7, 5, 8], [2, 20, 15, 12], [2, 4, 3, 6]];
  for (const shape of shapes) {
    for (const perImage of [false, true]) {
      test(`[${shape}] perImage=${perImage}`, async () => {
        const rng = new Rng(shape.reduce((a, b) => a + b) + (perImage ? 1 : 0));
        const size = shape.reduce((a, b) => a * b);
        const C = shape[shape.length - 1];
        const stat = perImage ? [shape[0], C] : [C];
        const statSize = stat.reduce((a, b) => a * b);
        const inputs = [
          { values: randomValues(size, rng, 2, 3), shape },
          { values: randomValues(size, rng), shape },
          { values: randomValues(statSize, rng), shape: stat },
          { values: randomValues(statSize, rng), shape: stat },
          { values: randomValues(statSize, rng), shape: stat },
        ];
        const f = (u: tf.Tensor, v: tf.Tensor, m: tf.Tensor, a: tf.Tensor, b: tf.Tensor) => [
          channelSum(u, perImage),
          ...channelDot(u, v, m, perImage),
          channelAffine(u, a, m),
          channelAffine(u, a, m, v, b),
        ];
        const wasm = await on('wasm', inputs, f as never);
        const cpu = await on('cpu', inputs, f as never);
        const fused = C % 4 === 0;
        for (const name of ['SynthaugChannelSum', 'SynthaugChannelDot', 'SynthaugChannelAffine']) {
          assert.equal(wasm.kernels.has(name), fused, `${name} ${fused ? 'not run' : 'run'} for C=${C}`);
        }
        wasm.outs.forEach((o, i) => assertClose(o, cpu.outs[i], 1e-4, `output ${i}`));
      });
    }
  }
});

test('an empty tensor takes the tfjs-ops path (the SIMD loops assume at least one row) and sums to zeros', async () => {
  await tf.setBackend('wasm');
  const u = tf.zeros([0, 8]);
  assert.deepEqual(Array.from(channelSum(u).dataSync()), new Array(8).fill(0));
  assert.deepEqual(Array.from(channelDot(u, u, tf.zeros([8]))[1].dataSync()), new Array(8).fill(0));
  assert.deepEqual(channelAffine(u, tf.ones([8]), tf.ones([8])).shape, [0, 8]);
});

describe('normalisation layers on wasm vs autodiff of their plain formulas', () => {
  before(async () => {
    await tf.setBackend('wasm');
  });
  test('BatchNorm, 16 channels (SIMD), 648 rows', () => {
    checkNormGradients(new BatchNorm(16), plainBatchNorm, [8, 9, 9, 16], 21);
  });
  test('BatchNorm, 6 channels (tfjs ops)', () => {
    checkNormGradients(new BatchNorm(6), plainBatchNorm, [4, 3, 5, 6], 22);
  });
  test('GroupNorm, 4 groups of 4 channels (SIMD), 289 rows per image', () => {
    checkNormGradients(new GroupNorm(4, 16), plainGroupNorm(4), [3, 17, 17, 16], 23);
  });
  test('GroupNorm, 3 groups of 2 channels (tfjs ops)', () => {
    checkNormGradients(new GroupNorm(3, 6), plainGroupNorm(3), [2, 3, 4, 6], 24);
  });
  test('LayerNorm, 16 features (SIMD parameter gradients), 300 rows', () => {
    checkNormGradients(new LayerNorm(16), plainLayerNorm, [4, 75, 16], 25);
  });
  test('LayerNorm, 6 features (tfjs ops)', () => {
    checkNormGradients(new LayerNorm(6), plainLayerNorm, [3, 7, 6], 26);
  });
  test('BatchNorm training leaves no tensors behind', () => {
    const bn = new BatchNorm(8);
    const x = tf.randomNormal([4, 5, 5, 8]);
    const step = () => {
      const { value, grads } = tf.variableGrads(() => tf.sum(bn.forward(x, { training: true })) as tf.Scalar, [bn.weight, bn.bias]);
      tf.dispose([value, ...Object.values(grads)]);
    };
    step();
    const before = tf.memory().numTensors;
    step();
    assert.equal(tf.memory().numTensors, before);
    x.dispose();
  });
});

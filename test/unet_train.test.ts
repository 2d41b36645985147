// Training the diffusion U-Net on the backend synthaug trains with (WASM, with the gradient kernels of
// src/backend): every parameter gets a finite gradient, L_simple falls on a fixed batch, and a step
// leaves the tensor count unchanged.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { UNet, defaultUNetConfig } from '../src/models/unet.js';
import { makeSchedule } from '../src/diffusion/schedule.js';
import { drawTrainingNoise, noisePredictionLoss, type DiffusionDraw } from '../src/diffusion/loss.js';
import { createOptimizer } from '../src/training/optim.js';
import { Rng } from '../src/util/rng.js';

before(async () => {
  await initBackend('wasm');
});

const config = { ...defaultUNetConfig, baseChannels: 16, groups: 8, numResBlocks: 1, dropout: 0, imageSize: 8, inChannels: 1, numClasses: 3 };

test('L_simple equals the mean squared error of ε̂(√ᾱ·x0 + √(1−ᾱ)·ε) against ε, computed directly', () => {
  const net = new UNet(config, 3);
  const schedule = makeSchedule('linear', 1000);
  const rng = new Rng(5);
  const x0v = Float32Array.from({ length: 2 * 64 }, () => rng.random() * 2 - 1);
  const x0 = tf.tensor4d(x0v, [2, 8, 8, 1]);
  const draw: DiffusionDraw = drawTrainingNoise([2, 8, 8, 1], [0, 2], { schedule, numClasses: 3, pUncond: 0.5 }, rng);
  const loss = noisePredictionLoss(net, x0, draw, schedule, false).dataSync()[0];
  // The same, with x_t built element by element on the host.
  const xt = new Float32Array(x0v.length);
  for (let i = 0; i < xt.length; i++) {
    const ab = schedule.alphasCumprod[draw.t[Math.floor(i / 64)]];
    xt[i] = Math.sqrt(ab) * x0v[i] + Math.sqrt(1 - ab) * draw.noise[i];
  }
  const eps = net.predictNoise(tf.tensor4d(xt, [2, 8, 8, 1]), tf.tensor1d(draw.t, 'int32'), tf.tensor1d(draw.y, 'int32')).dataSync();
  let mse = 0;
  for (let i = 0; i < eps.length; i++) mse += (eps[i] - draw.noise[i]) ** 2 / eps.length;
  assert.ok(Math.abs(loss - mse) <= 1e-5 * Math.max(1, mse), `${loss} vs ${mse}`);
  for (const y of draw.y) assert.ok([0, 2, 3].includes(y));
  net.dispose();
});

test('U-Net training on WASM: finite gradients for every parameter, falling loss, no leaked tensors', () => {
  const net = new UNet(config, 1);
  const opt = createOptimizer(net.namedParameters(), { optimizer: 'adamw', momentum: 0, nesterov: false, weightDecay: 0 });
  const schedule = makeSchedule('linear', 1000);
  const rng = new Rng(2);
  const x0 = tf.tensor4d(Float32Array.from({ length: 4 * 64 }, (_, i) => Math.sin(i / 5)), [4, 8, 8, 1]);
  // One fixed draw, so that the loss is a function of the weights alone.
  const draw = drawTrainingNoise([4, 8, 8, 1], [0, 1, 2, 0], { schedule, numClasses: 3, pUncond: 0 }, rng);
  const vars = net.namedParameters();
  const names = new Map(vars.map(([n, v]) => [v.name, n]));
  const losses: number[] = [];
  let tensorsAfterFirst = 0;
  for (let step = 0; step < 15; step++) {
    const { value, grads } = tf.variableGrads(() => noisePredictionLoss(net, x0, draw, schedule), vars.map(([, v]) => v));
    const named: Record<string, tf.Tensor> = {};
    for (const [id, g] of Object.entries(grads)) named[names.get(id) as string] = g;
    if (step === 0) {
      assert.equal(Object.keys(named).length, vars.length, 'a parameter got no gradient');
      for (const [n, g] of Object.entries(named)) assert.ok(g.dataSync().every(Number.isFinite), `${n}: non-finite gradient`);
    }
    opt.step(named, 3e-3);
    losses.push(value.dataSync()[0]);
    tf.dispose([value, ...Object.values(grads)]);
    if (step === 0) tensorsAfterFirst = tf.memory().numTensors;
  }
  assert.equal(tf.memory().numTensors, tensorsAfterFirst, 'training steps leaked tensors');
  assert.ok(losses[losses.length - 1] < 0.7 * losses[0], `loss did not fall: ${losses.map((l) => l.toFixed(3)).join(' ')}`);
  x0.dispose();
  opt.dispose();
  net.dispose();
});

// EDM preconditioning and loss (Karras et al. 2022, Table 1) against direct formulas written out on the
// host in float64, with a stand-in network whose output is known, and with the real U-Net.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { UNet, defaultUNetConfig, type DenoiseContext } from '../src/models/unet.js';
import { EDM_DEFAULTS, drawEdmNoise, edmDenoiser, edmLoss, edmLossWeight, edmPreconditioning } from '../src/diffusion/edm.js';
import { Rng } from '../src/util/rng.js';
import { assertClose } from './helpers/close.js';

before(async () => {
  await initBackend('wasm');
});

/** F(x; t, y) = 0.7·x + t + 0.1·y, elementwise: simple enough to write out on the host. */
const standIn = {
  forward(x: tf.Tensor, ctx: DenoiseContext): tf.Tensor {
    const b = x.shape[0];
    const per = tf.add(tf.reshape(ctx.t, [b, 1, 1, 1]), tf.mul(tf.reshape(tf.cast(ctx.y, 'float32'), [b, 1, 1, 1]), 0.1));
    return tf.add(tf.mul(x, 0.7), per);
  },
};
const standInHost = (x: number, t: number, y: number) => 0.7 * x + t + 0.1 * y;

test('Table 1 coefficients: values at σ = σ_d, and λ(σ)·c_out(σ)² = 1', () => {
  const sd = 0.5;
  const c = edmPreconditioning(sd, sd);
  assert.ok(Math.abs(c.cSkip - 0.5) < 1e-12);
  assert.ok(Math.abs(c.cOut - sd / Math.SQRT2) < 1e-12);
  assert.ok(Math.abs(c.cIn - 1 / (sd * Math.SQRT2)) < 1e-12);
  assert.ok(Math.abs(c.cNoise - Math.log(sd) / 4) < 1e-12);
  for (const s of [0.002, 0.1, 1, 80]) {
    const p = edmPreconditioning(s, sd);
    assert.ok(Math.abs(edmLossWeight(s, sd) * p.cOut ** 2 - 1) < 1e-9, `σ ${s}`);
    // D(x) → x as σ → 0 (c_skip → 1, c_out → 0), and D(x) → F·σ_d as σ → ∞.
    if (s === 0.002) assert.ok(p.cSkip > 0.9999 && p.cOut < 0.0021);
  }
});

test('edmDenoiser and edmLoss equal the direct formulas with a known network', () => {
  const rng = new Rng(11);
  const shape: [number, number, number, number] = [3, 2, 2, 1];
  const x0 = Float32Array.from({ length: 12 }, () => rng.random() * 2 - 1);
  const draw = drawEdmNoise(shape, [0, 1, 2], { numClasses: 3, constants: { ...EDM_DEFAULTS, pUncond: 0.5 } }, rng);
  const sd = EDM_DEFAULTS.sigmaData;
  let expected = 0;
  const dExpected = new Float64Array(12);
  for (let i = 0; i < 12; i++) {
    const b = Math.floor(i / 4);
    const s = draw.sigma[b];
    const x = x0[i] + s * draw.noise[i];
    const s2 = s * s + sd * sd;
    const f = standInHost(x / Math.sqrt(s2), 0.25 * Math.log(s), draw.y[b]);
    const d = ((sd * sd) / s2) * x + ((s * sd) / Math.sqrt(s2)) * f;
    dExpected[i] = d;
    expected += ((s2 / (s * sd) ** 2) * (d - x0[i]) ** 2) / 12;
  }
  const loss = edmLoss(standIn, tf.tensor4d(x0, shape), draw, EDM_DEFAULTS).dataSync()[0];
  assert.ok(Math.abs(loss - expected) <= 1e-5 * Math.max(1, expected), `${loss} vs ${expected}`);

  const den = edmDenoiser(standIn, { numClasses: 3, imageShape: [2, 2, 1], constants: EDM_DEFAULTS });
  const xNoisy = Float32Array.from(x0, (v, i) => v + draw.sigma[Math.floor(i / 4)] * draw.noise[i]);
  const d = den.denoise(tf.tensor4d(xNoisy, shape), tf.tensor1d(draw.sigma), tf.tensor1d(draw.y, 'int32'));
  assertClose(d.dataSync(), dExpected, 1e-5, 'D');
  assert.deepEqual([den.sigmaMin, den.sigmaMax, den.sigmaData, den.numClasses], [0.002, 80, 0.5, 3]);
});

test('edmDenoiser wraps the U-Net: D = c_skip·x + c_out·F(c_in·x; ¼ ln σ, y), F called directly', () => {
  const cfg = { ...defaultUNetConfig, baseChannels: 8, groups: 4, numResBlocks: 1, dropout: 0.5, imageSize: 4, inChannels: 1, numClasses: 2, channelMult: [1, 2] };
  const net = new UNet(cfg, 1);
  // Random weights in place of the zero-initialised output layers, so that F is not 0.
  const r = new Rng(2);
  for (const [, v] of net.namedParameters()) v.assign(tf.tensor(Float32Array.from({ length: v.size }, () => 0.2 * r.normal()), v.shape));
  const sigma = [0.05, 3];
  const x = Float32Array.from({ length: 32 }, () => r.normal());
  const den = edmDenoiser(net, { numClasses: 2, imageShape: [4, 4, 1], constants: EDM_DEFAULTS });
  const got = den.denoise(tf.tensor4d(x, [2, 4, 4, 1]), tf.tensor1d(sigma), tf.tensor1d([1, 2], 'int32')).dataSync();
  const cIn = sigma.map((s) => edmPreconditioning(s, 0.5));
  const scaled = Float32Array.from(x, (v, i) => v * cIn[Math.floor(i / 16)].cIn);
  const f = net.predictNoise(tf.tensor4d(scaled, [2, 4, 4, 1]), tf.tensor1d(cIn.map((c) => c.cNoise)), tf.tensor1d([1, 2], 'int32'), false).dataSync();
  const want = Float64Array.from(x, (v, i) => cIn[Math.floor(i / 16)].cSkip * v + cIn[Math.floor(i / 16)].cOut * f[i]);
  assertClose(got, want, 1e-4, 'D');
  net.dispose();
});

test('training σ is log-normal (P_mean −1.2, P_std 1.2) and labels drop to the null class 10% of the time', () => {
  const n = 20000;
  const draw = drawEdmNoise([n, 1, 1, 1], new Int32Array(n), { numClasses: 5, constants: EDM_DEFAULTS }, new Rng(7));
  const logs = Array.from(draw.sigma, Math.log);
  const mean = logs.reduce((a, b) => a + b, 0) / n;
  const std = Math.sqrt(logs.reduce((a, b) => a + (b - mean) ** 2, 0) / n);
  assert.ok(Math.abs(mean + 1.2) < 0.03, `mean ln σ ${mean}`);
  assert.ok(Math.abs(std - 1.2) < 0.03, `std ln σ ${std}`);
  const dropped = draw.y.filter((y) => y === 5).length / n;
  assert.ok(Math.abs(dropped - 0.1) < 0.01, `dropout ${dropped}`);
  assert.ok(draw.y.every((y) => y === 0 || y === 5));
});

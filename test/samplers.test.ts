// Samplers against exact answers. For Gaussian data the ideal denoiser is closed-form
// (test/helpers/gaussian.ts), and so is the probability-flow ODE's solution: along an eigenvector of Σ with
// variance λ, x(σ') − μ = √((λ + σ'²)/(λ + σ²))·(x(σ) − μ). The deterministic samplers are checked against
// that map (and their order of convergence: error ×½ per doubling of steps for 1st order, ×¼ for 2nd);
// every sampler, started from the exact noisy marginal at σ_max, must give the data's mean and covariance.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { karrasSigmas } from '../src/diffusion/sigmas.js';
import { samplers, SAMPLER_NAMES, type DenoiseFn } from '../src/diffusion/samplers.js';
import { guidedDenoiser } from '../src/diffusion/guidance.js';
import { Rng } from '../src/util/rng.js';
import { drawNoisy, mixtureDenoiser, mixtureMoments, normalNoise, rotation, sampleMoments, type Component } from './helpers/gaussian.js';

before(async () => {
  await tf.setBackend('cpu');
});

const SIGMA_MIN = 0.002;
const SIGMA_MAX = 80;

/** One Gaussian in 3 dimensions with a rotated, anisotropic covariance. */
const gaussian: Component[] = [{ weight: 1, mean: [0.5, -0.3, 0.2], basis: rotation(3, [0.4, -0.7, 1.1]), variances: [0.9, 0.25, 0.04] }];

/** Three Gaussians in 2 dimensions. */
const mixture: Component[] = [
  { weight: 0.5, mean: [-1, 0.2], basis: rotation(2, [0.3]), variances: [0.1, 0.02] },
  { weight: 0.3, mean: [0.8, 0.7], basis: rotation(2, [1.2]), variances: [0.05, 0.05] },
  { weight: 0.2, mean: [0.4, -0.9], basis: rotation(2, [-0.5]), variances: [0.2, 0.01] },
];

/** The denoiser of the whole distribution (null labels) as a DenoiseFn. */
function unconditional(components: Component[], batch: number): DenoiseFn {
  return guidedDenoiser(mixtureDenoiser(components, SIGMA_MIN, SIGMA_MAX), new Int32Array(batch), 0);
}

function runSampler(name: string, components: Component[], x0: Float32Array, steps: number, seed = 1): Float32Array {
  const d = components[0].mean.length;
  const batch = x0.length / d;
  const shape: [number, number, number, number] = [batch, 1, 1, d];
  const x = tf.tensor4d(x0, shape);
  const out = samplers[name].run(unconditional(components, batch), x, karrasSigmas(steps, SIGMA_MIN, SIGMA_MAX), {
    noise: normalNoise(shape, new Rng(seed)),
  });
  const data = out.dataSync() as Float32Array;
  tf.dispose([x, out]);
  return data;
}

/** The exact probability-flow map of one Gaussian from σ to 0, in float64. */
function exactFlow(c: Component, x: Float32Array, sigma: number): Float64Array {
  const d = c.mean.length;
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / d; r++) {
    for (let e = 0; e < d; e++) {
      const lam = c.variances[e];
      let coord = 0;
      for (let i = 0; i < d; i++) coord += (x[r * d + i] - c.mean[i]) * c.basis[e][i];
      coord *= Math.sqrt(lam / (lam + sigma * sigma));
      for (let i = 0; i < d; i++) out[r * d + i] += coord * c.basis[e][i];
    }
    for (let i = 0; i < d; i++) out[r * d + i] += c.mean[i];
  }
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('karrasSigmas: EDM eq. 5 with ρ = 7, from σ_max to σ_min, then 0', () => {
  const s = karrasSigmas(5, 0.002, 80);
  assert.equal(s.length, 6);
  assert.ok(Math.abs(s[0] - 80) < 1e-12 && Math.abs(s[4] - 0.002) < 1e-15 && s[5] === 0);
  // middle level by hand: ((80^(1/7) + 0.002^(1/7)) / 2)^7
  assert.ok(Math.abs(s[2] - ((80 ** (1 / 7) + 0.002 ** (1 / 7)) / 2) ** 7) < 1e-12);
  for (let i = 0; i < 5; i++) assert.ok(s[i] > s[i + 1]);
  assert.deepEqual(Array.from(karrasSigmas(1, 0.002, 80)), [80, 0]);
  assert.throws(() => karrasSigmas(0, 0.002, 80), RangeError);
});

// Orders: DDIM (Euler) is 1st order, Heun and DPM-Solver++(2M) 2nd order. Max error over 256 samples
// (which start at σ_max = 80, |x| up to about 250) against the exact ODE solution at 32 steps, and the
// error ratio from 16 to 32 steps: about 2 for 1st order, 4 for 2nd order.
const deterministic: Array<{ name: string; tolerance: number; minRatio: number }> = [
  { name: 'ddim', tolerance: 0.3, minRatio: 1.6 },
  { name: 'heun', tolerance: 0.05, minRatio: 3 },
  { name: 'dpmpp-2m', tolerance: 0.05, minRatio: 3 },
];

for (const { name, tolerance, minRatio } of deterministic) {
  test(`${name} follows the exact probability-flow ODE of a Gaussian, with its order of convergence`, () => {
    const { x } = drawNoisy(gaussian, 256, SIGMA_MAX, new Rng(7));
    const exact = exactFlow(gaussian[0], x, SIGMA_MAX);
    const errors = [8, 16, 32].map((steps) => maxAbsDiff(runSampler(name, gaussian, x, steps), exact));
    console.log(`${name}: max error at 8, 16, 32 steps: ${errors.map((e) => e.toExponential(2)).join(', ')}`);
    assert.ok(errors[2] < tolerance, `${name}: error ${errors[2]} at 32 steps ≥ ${tolerance}`);
    assert.ok(errors[1] / errors[2] > minRatio, `${name}: error ratio 16→32 steps ${errors[1] / errors[2]} ≤ ${minRatio}`);
  });
}

/** Largest deviation of mean and covariance entries from the expected moments. */
function momentErrors(data: Float32Array, d: number, expected: { mean: number[]; cov: number[][] }): { mean: number; cov: number } {
  const got = sampleMoments(data, d);
  return {
    mean: maxAbsDiff(got.mean, expected.mean),
    cov: maxAbsDiff(got.cov.flat(), expected.cov.flat()),
  };
}

// Every sampler, from the exact noisy marginal at σ_max, reproduces the data's mean and covariance.
// 10,000 samples: the standard error of a covariance entry is at most √2·0.9/√N ≈ 0.013 here, of a
// mean coordinate at most √(0.9/N) ≈ 0.0095. Tolerances: 0.04 on each mean coordinate and 0.05 on each
// covariance entry (about 4 standard errors), at step counts where the discretisation bias is below that.
const SAMPLES = 10000;
const STEPS: Record<string, number> = { ddpm: 256, ddim: 128, heun: 32, 'dpmpp-2m': 32 };
for (const name of SAMPLER_NAMES) {
  for (const [what, components] of [['a Gaussian', gaussian], ['a mixture of three Gaussians', mixture]] as const) {
    test(`${name} reproduces the mean and covariance of ${what} (${STEPS[name]} steps)`, () => {
      const d = components[0].mean.length;
      const { x } = drawNoisy(components, SAMPLES, SIGMA_MAX, new Rng(11));
      const out = runSampler(name, components, x, STEPS[name]);
      const err = momentErrors(out, d, mixtureMoments(components));
      console.log(`${name} on ${what}: mean error ${err.mean.toFixed(4)}, covariance error ${err.cov.toFixed(4)}`);
      assert.ok(err.mean < 0.04 && err.cov < 0.05, `${name}: mean error ${err.mean}, covariance error ${err.cov}`);
    });
  }
}

test('guidance: w = 1 is the conditional pass alone, w = 0 the unconditional one, else one call on 2B images', () => {
  const denoiser = mixtureDenoiser(mixture, SIGMA_MIN, SIGMA_MAX);
  const labels = Int32Array.from([0, 1, 2, 1]);
  const { x } = drawNoisy(mixture, 4, 1.5, new Rng(3));
  const input = tf.tensor4d(x, [4, 1, 1, 2]);
  const sigma = tf.fill([4], 1.5) as tf.Tensor1D;
  const direct = (y: Int32Array) => denoiser.denoise(input, sigma, tf.tensor1d(y, 'int32')).dataSync();
  const cond = direct(labels);
  const uncond = direct(new Int32Array(4).fill(3));
  denoiser.calls.length = 0;
  const at = (w: number) => guidedDenoiser(denoiser, labels, w)(input, 1.5).dataSync();
  assert.ok(maxAbsDiff(at(1), cond) === 0);
  assert.ok(maxAbsDiff(at(0), uncond) === 0);
  assert.deepEqual(denoiser.calls, [4, 4]);
  const guided = at(2.5);
  assert.deepEqual(denoiser.calls, [4, 4, 8], 'conditional and unconditional passes in one call');
  const expected = Array.from(cond, (c, i) => uncond[i] + 2.5 * (c - uncond[i]));
  assert.ok(maxAbsDiff(guided, expected) < 1e-5);
  denoiser.calls.length = 0;
  const split = guidedDenoiser(denoiser, labels, 2.5, 3)(input, 1.5).dataSync();
  assert.deepEqual(denoiser.calls, [3, 3, 2], 'at most maxBatch images a call');
  assert.ok(maxAbsDiff(split, guided) === 0);
  assert.throws(() => guidedDenoiser(denoiser, [4], 1), RangeError);
  tf.dispose([input, sigma]);
});

test('conditional sampling (w = 1) reproduces the conditioning component, w = 0 the whole mixture', () => {
  const denoiser = mixtureDenoiser(mixture, SIGMA_MIN, SIGMA_MAX);
  const n = 4000;
  for (const [w, label] of [[1, 2], [0, 2]] as const) {
    const rng = new Rng(5);
    const x = tf.tensor4d(Float32Array.from({ length: n * 2 }, () => rng.normal() * SIGMA_MAX), [n, 1, 1, 2]);
    const out = samplers.heun.run(guidedDenoiser(denoiser, new Int32Array(n).fill(label), w), x, karrasSigmas(32, SIGMA_MIN, SIGMA_MAX));
    const expected = w === 1 ? mixtureMoments([{ ...mixture[label], weight: 1 }]) : mixtureMoments(mixture);
    const err = momentErrors(out.dataSync() as Float32Array, 2, expected);
    assert.ok(err.mean < 0.04 && err.cov < 0.05, `w = ${w}: mean error ${err.mean}, covariance error ${err.cov}`);
    tf.dispose([x, out]);
  }
});

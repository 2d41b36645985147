// Samplers: integrate from noise at σ_0 down to σ_N = 0 with a denoiser, in EDM's σ-parametrisation
// (Karras et al. 2022, §2): x = x₀ + σ·n, the probability-flow ODE dx/dσ = (x − D(x; σ))/σ, and D(x; σ) the
// denoiser's estimate of x₀. Every sampler has one signature, as in k-diffusion:
//   sampler(denoise, x, sigmas, { noise, callback }) → x at σ = 0
// x [B, H, W, C] is the starting sample at σ_0 (σ_0 times standard normal noise); `sigmas` the levels to
// visit, ending with 0 (src/diffusion/sigmas.ts); `noise` draws the fresh standard normal noise of the
// stochastic samplers (once per step that needs it, in step order), so the caller decides where randomness
// comes from. A new sampler is one function here plus one line in `samplers`.
import * as tf from '@tensorflow/tfjs-core';

/** x̂₀ for a batch at one noise level: x [B, H, W, C] and σ (the same for every image) → [B, H, W, C]. */
export type DenoiseFn = (x: tf.Tensor4D, sigma: number) => tf.Tensor4D;

export interface StepInfo {
  /** Step index i, from 0 to sigmas.length − 2. */
  step: number;
  sigma: number;
  sigmaNext: number;
  /** D(x; σ_i) [B, H, W, C]; valid only during the callback. */
  denoised: tf.Tensor4D;
}

export interface SamplerOptions {
  /** Fresh standard normal noise of x's shape; stochastic samplers call it once per step that adds noise. */
  noise?: () => tf.Tensor4D;
  /** Called after every step. */
  callback?: (info: StepInfo) => void;
}

/** Returns x at σ = sigmas[last] (= 0) as a new tensor; `x` itself is not disposed. */
export type Sampler = (denoise: DenoiseFn, x: tf.Tensor4D, sigmas: ArrayLike<number>, options?: SamplerOptions) => tf.Tensor4D;

/**
 * Runs `step` for i = 0..N−1, replacing x by what it returns and disposing the previous x (never the
 * caller's). `step` is called inside tf.tidy: tensors it returns (or keeps with tf.keep) survive.
 */
function walk(
  x: tf.Tensor4D,
  sigmas: ArrayLike<number>,
  options: SamplerOptions,
  step: (x: tf.Tensor4D, sigma: number, sigmaNext: number, i: number) => { x: tf.Tensor4D; denoised: tf.Tensor4D },
): tf.Tensor4D {
  checkSigmas(sigmas);
  let current = x;
  for (let i = 0; i + 1 < sigmas.length; i++) {
    const [sigma, sigmaNext] = [sigmas[i], sigmas[i + 1]];
    const out = tf.tidy(() => step(current, sigma, sigmaNext, i));
    options.callback?.({ step: i, sigma, sigmaNext, denoised: out.denoised });
    if (out.denoised !== out.x) out.denoised.dispose();
    if (current !== x) current.dispose();
    current = out.x;
  }
  return current === x ? x.clone() : current;
}

function checkSigmas(sigmas: ArrayLike<number>): void {
  if (sigmas.length < 2 || sigmas[sigmas.length - 1] !== 0) throw new RangeError('a sampler needs at least two noise levels, the last one 0');
  for (let i = 0; i + 1 < sigmas.length; i++) {
    if (!(sigmas[i] > sigmas[i + 1])) throw new RangeError(`noise levels must decrease: σ_${i} = ${sigmas[i]}, σ_${i + 1} = ${sigmas[i + 1]}`);
  }
}

/** Σ cᵢ·tᵢ over tensors of one shape. */
function lin(...terms: Array<[number, tf.Tensor4D]>): tf.Tensor4D {
  return terms.map(([c, t]) => (c === 1 ? t : tf.mul(t, c))).reduce((a, b) => tf.add(a, b)) as tf.Tensor4D;
}

/**
 * DDIM with η = 0 (Song et al. 2021, eq. 12 with σ_t = 0), deterministic. In σ-space, DDIM's update
 * x_{t−1} = √ᾱ_{t−1}·x̂₀ + √(1 − ᾱ_{t−1})·ε̂ becomes x' = x̂₀ + σ'·ε̂, which is exactly Euler's method on the
 * probability-flow ODE, x' = x + (σ' − σ)·(x − x̂₀)/σ (Karras et al. 2022, §3, "DDIM … Euler").
 * One network evaluation per step.
 */
export const ddim: Sampler = (denoise, x, sigmas, options = {}) =>
  walk(x, sigmas, options, (x, sigma, sigmaNext) => {
    const denoised = denoise(x, sigma);
    const r = sigmaNext / sigma;
    return { x: lin([1 - r, denoised], [r, x]), denoised }; // x̂₀ + σ'·(x − x̂₀)/σ
  });

/**
 * DDPM ancestral sampling (Ho et al. 2020, Algorithm 2): each step draws x' from the forward process's
 * posterior q(x_{σ'} | x_σ, x₀) with x₀ replaced by D(x; σ). For the variance-exploding chain
 * x_σ = x₀ + σ·n (increments of variance σ² − σ'²) that posterior is exactly (Ho et al. 2020, eqs. 6–7,
 * without the √ᾱ scaling):
 *   mean = (σ'²/σ²)·x + (1 − σ'²/σ²)·x̂₀,   variance = σ'²·(σ² − σ'²)/σ²,
 * the same step as DDIM with η = 1 (Song et al. 2021, eq. 16). One network evaluation and one noise draw
 * per step (none on the last step, where σ' = 0 and the variance vanishes).
 */
export const ddpm: Sampler = (denoise, x, sigmas, options = {}) =>
  walk(x, sigmas, options, (x, sigma, sigmaNext) => {
    const denoised = denoise(x, sigma);
    const keep = (sigmaNext * sigmaNext) / (sigma * sigma);
    const mean = lin([keep, x], [1 - keep, denoised]);
    if (sigmaNext === 0) return { x: mean, denoised };
    if (!options.noise) throw new Error('the ddpm sampler draws noise at every step: pass options.noise');
    const std = sigmaNext * Math.sqrt(1 - keep);
    return { x: lin([1, mean], [std, options.noise()]), denoised };
  });

/**
 * Heun's 2nd-order method on the probability-flow ODE (Karras et al. 2022, Algorithm 1; Algorithm 2 with
 * S_churn = 0): an Euler step to σ', then the trapezoidal correction with the slope at the Euler point.
 * The last step (σ' = 0) is a plain Euler step. Deterministic; 2N − 1 network evaluations for N steps.
 */
export const heun: Sampler = (denoise, x, sigmas, options = {}) =>
  walk(x, sigmas, options, (x, sigma, sigmaNext) => {
    const denoised = denoise(x, sigma);
    const dt = sigmaNext - sigma;
    const d = lin([1 / sigma, x], [-1 / sigma, denoised]); // dx/dσ at σ
    const euler = lin([1, x], [dt, d]);
    if (sigmaNext === 0) return { x: euler, denoised };
    const dNext = lin([1 / sigmaNext, euler], [-1 / sigmaNext, denoise(euler, sigmaNext)]); // dx/dσ at σ'
    return { x: lin([1, x], [dt / 2, d], [dt / 2, dNext]), denoised };
  });

/**
 * DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Algorithm 2), multistep 2nd order with data
 * prediction. Here α_t = 1, σ_t = σ, and λ = −log σ. With h = λ' − λ and r = h_prev/h:
 *   D = (1 + 1/(2r))·x̂₀ − (1/(2r))·x̂₀_prev   (D = x̂₀ on the first step, and on the last, where σ' = 0)
 *   x' = (σ'/σ)·x − (e^(−h) − 1)·D = (σ'/σ)·x + (1 − σ'/σ)·D.
 * Deterministic; one network evaluation per step.
 */
export const dpmpp2m: Sampler = (denoise, x, sigmas, options = {}) => {
  let previous: tf.Tensor4D | undefined; // x̂₀ of the previous step
  try {
    return walk(x, sigmas, options, (x, sigma, sigmaNext, i) => {
      const denoised = denoise(x, sigma);
      let d: tf.Tensor4D = denoised;
      if (previous !== undefined && sigmaNext > 0) {
        const h = Math.log(sigma / sigmaNext);
        const hPrev = Math.log(sigmas[i - 1] / sigma);
        const k = h / (2 * hPrev); // 1/(2r)
        d = lin([1 + k, denoised], [-k, previous]);
      }
      const ratio = sigmaNext / sigma;
      const next = lin([ratio, x], [1 - ratio, d]);
      previous?.dispose();
      previous = tf.keep(denoised.clone());
      return { x: next, denoised };
    });
  } finally {
    previous?.dispose();
  }
};

export interface SamplerEntry {
  run: Sampler;
  /** Whether it calls options.noise. */
  stochastic: boolean;
  /** Denoiser evaluations over `steps` steps (for progress and throughput figures). */
  evaluations: (steps: number) => number;
}

const oncePerStep = (steps: number) => steps;

/** The samplers by name (the --sampler choices). */
export const samplers: Record<string, SamplerEntry> = {
  ddpm: { run: ddpm, stochastic: true, evaluations: oncePerStep },
  ddim: { run: ddim, stochastic: false, evaluations: oncePerStep },
  heun: { run: heun, stochastic: false, evaluations: (steps) => 2 * steps - 1 },
  'dpmpp-2m': { run: dpmpp2m, stochastic: false, evaluations: oncePerStep },
};

export const SAMPLER_NAMES = Object.keys(samplers);

// Discrete noise schedules for DDPM training and sampling. A schedule is the list of β_t, t = 0..T−1;
// everything else (ᾱ_t = Π_{s≤t} (1 − β_s), the q(x_t | x_0) coefficients) is derived here in float64.
// A new schedule is one function returning betas plus one line in `schedules`.

export interface NoiseSchedule {
  readonly name: string;
  /** Number of diffusion steps T. */
  readonly steps: number;
  /** β_t, t = 0..T−1. */
  readonly betas: Float64Array;
  /** ᾱ_t = Π_{s≤t} (1 − β_s). */
  readonly alphasCumprod: Float64Array;
}

/** DDPM's linear schedule (Ho et al. 2020, §4): β from 1e-4 to 0.02 over T = 1000 steps, scaled for other T. */
export function linearBetas(steps: number): Float64Array {
  const scale = 1000 / steps;
  const [lo, hi] = [scale * 1e-4, scale * 0.02];
  return Float64Array.from({ length: steps }, (_, i) => (steps === 1 ? lo : lo + ((hi - lo) * i) / (steps - 1)));
}

/** Improved DDPM's cosine schedule (Nichol & Dhariwal 2021, eq. 17): ᾱ(t) = cos²((t/T + s)/(1 + s)·π/2), s = 0.008, β ≤ 0.999. */
export function cosineBetas(steps: number): Float64Array {
  const f = (t: number) => Math.cos(((t / steps + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  return Float64Array.from({ length: steps }, (_, i) => Math.min(1 - f(i + 1) / f(i), 0.999));
}

const schedules: Record<string, (steps: number) => Float64Array> = { linear: linearBetas, cosine: cosineBetas };

export const SCHEDULE_NAMES = Object.keys(schedules);

export function makeSchedule(name: string, steps = 1000): NoiseSchedule {
  const make = schedules[name];
  if (!make) throw new Error(`unknown noise schedule ${JSON.stringify(name)} (known: ${SCHEDULE_NAMES.join(', ')})`);
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`a noise schedule needs a positive integer number of steps, not ${steps}`);
  const betas = make(steps);
  const alphasCumprod = new Float64Array(steps);
  let prod = 1;
  for (let t = 0; t < steps; t++) alphasCumprod[t] = prod *= 1 - betas[t];
  return { name, steps, betas, alphasCumprod };
}

// Noise levels for sampling, in EDM's σ notation (x = x₀ + σ·n). A sampler walks down a list
// σ_0 > σ_1 > … > σ_{N−1} > σ_N = 0 and returns x at σ = 0.

/**
 * EDM's sampling schedule (Karras et al. 2022, eq. 5): N levels from σ_max down to σ_min, spaced evenly in
 * σ^(1/ρ), then a final 0:
 *   σ_i = (σ_max^(1/ρ) + i/(N−1)·(σ_min^(1/ρ) − σ_max^(1/ρ)))^ρ,  i = 0..N−1;  σ_N = 0.
 * ρ = 7 (EDM's choice) spends more steps at low noise. Returns N + 1 values in float64.
 */
export function karrasSigmas(steps: number, sigmaMin: number, sigmaMax: number, rho = 7): Float64Array {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`a σ schedule needs a positive integer number of steps, not ${steps}`);
  if (!(sigmaMin > 0 && sigmaMax >= sigmaMin)) throw new RangeError(`a σ schedule needs 0 < σ_min ≤ σ_max, not ${sigmaMin}, ${sigmaMax}`);
  const out = new Float64Array(steps + 1);
  const [hi, lo] = [sigmaMax ** (1 / rho), sigmaMin ** (1 / rho)];
  for (let i = 0; i < steps; i++) out[i] = (steps === 1 ? hi : hi + (i / (steps - 1)) * (lo - hi)) ** rho;
  out[steps] = 0;
  return out;
}

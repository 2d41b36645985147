// Learning-rate schedules: a pure function of the step, so that a resumed run continues on the same curve.

export interface CosineSchedule {
  /** Peak learning rate, reached at the end of warmup. */
  baseLr: number;
  /** Linear warmup steps: lr rises from baseLr/warmup at step 0 to baseLr at step warmup−1. */
  warmupSteps: number;
  /** Total optimisation steps; the cosine reaches finalLr at step totalSteps. */
  totalSteps: number;
  /** Floor of the cosine (default 0). */
  finalLr?: number;
}

/**
 * Learning rate for optimisation step `step` (0-based): linear warmup, then half-cosine decay
 * (SGDR, Loshchilov & Hutter 2017, without restarts):
 *   step < W:  lr = base · (step + 1) / W
 *   else:      lr = final + (base − final) · ½ (1 + cos(π · (step − W) / (T − W)))
 */
export function cosineLr(s: CosineSchedule, step: number): number {
  const final = s.finalLr ?? 0;
  if (step < s.warmupSteps) return (s.baseLr * (step + 1)) / s.warmupSteps;
  const span = Math.max(1, s.totalSteps - s.warmupSteps);
  const progress = Math.min(1, (step - s.warmupSteps) / span);
  return final + (s.baseLr - final) * 0.5 * (1 + Math.cos(Math.PI * progress));
}

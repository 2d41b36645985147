// One optimisation step, shared by every task and by the compute benchmark: the batch runs as
// micro-batches whose gradients are summed (gradient accumulation, so that a batch of 64 and more fits
// the WASM heap: tfjs keeps every activation of a forward pass for its backward pass), then a guard
// against non-finite values, clipping by the global norm, the optimiser update, and the moving average.
import * as tf from '@tensorflow/tfjs-core';
import { hasFusedKernel } from '../backend/kernel-set.js';
import { type Optimizer, type StateTensor } from './optim.js';

/** A micro-batch's loss (the mean over its images) and statistics (sums over its images). */
export interface MicroLoss {
  loss: tf.Scalar;
  stats?: Record<string, tf.Scalar>;
}

export interface MicroBatch {
  /** Share of the batch: images in this micro-batch / images in the batch. */
  weight: number;
  run: () => MicroLoss;
}

export interface StepResult {
  /** The batch loss Σ_m weight_m·L_m (the batch mean when every L_m is a mean over its images). */
  loss: number;
  /** Statistics summed over the micro-batches. */
  stats: Record<string, number>;
  /** Global L2 norm of the gradient before clipping. */
  gradNorm: number;
  /** True when the loss or the gradient was not finite: no update was made. */
  skipped: boolean;
}

/**
 * Gradients of Σ_m weight_m·L_m with respect to `params`, one backward pass per micro-batch, summed by
 * parameter name (the caller disposes them). A network without batch statistics (the U-Net: GroupNorm is
 * per image) gets the same gradient as from one pass over the whole batch.
 */
export function microBatchGradients(params: Array<[string, tf.Variable]>, micro: MicroBatch[]): { grads: Map<string, tf.Tensor>; loss: number; stats: Record<string, number> } {
  const names = new Map(params.map(([n, v]) => [v.name, n]));
  const vars = params.map(([, v]) => v);
  const grads = new Map<string, tf.Tensor>();
  const stats: Record<string, number> = {};
  let loss = 0;
  for (const m of micro) {
    let kept: Record<string, tf.Scalar> = {};
    const { value, grads: g } = tf.variableGrads(() => {
      const out = m.run();
      kept = Object.fromEntries(Object.entries(out.stats ?? {}).map(([k, v]) => [k, tf.keep(v)]));
      return tf.mul(out.loss, m.weight) as tf.Scalar;
    }, vars);
    loss += value.dataSync()[0];
    value.dispose();
    for (const [k, v] of Object.entries(kept)) {
      stats[k] = (stats[k] ?? 0) + v.dataSync()[0];
      v.dispose();
    }
    for (const [id, t] of Object.entries(g)) {
      const name = names.get(id) ?? id;
      const prev = grads.get(name);
      if (prev) {
        grads.set(name, tf.add(prev, t));
        tf.dispose([prev, t]);
      } else grads.set(name, t);
    }
  }
  return { grads, loss, stats };
}

/**
 * Clipping by global norm: the L2 norm of all the gradients, and the factor maxNorm / norm that scales them
 * down to `maxNorm` when above it (1 otherwise; maxNorm 0: never). The optimiser applies the factor as part
 * of its update (Optimizer.step's gradScale).
 */
export function clipByGlobalNorm(grads: Map<string, tf.Tensor>, maxNorm: number): { norm: number; scale: number } {
  const sq = tf.tidy(() => tf.addN([...grads.values()].map((g) => tf.sum(tf.square(g)))));
  const norm = Math.sqrt(sq.dataSync()[0]);
  sq.dispose();
  const clip = maxNorm > 0 && Number.isFinite(norm) && norm > maxNorm;
  return { norm, scale: clip ? maxNorm / (norm + 1e-6) : 1 };
}

/** One step: micro-batch gradients, the non-finite guard, clipping, then the optimiser's update at `lr`. */
export function optimizationStep(params: Array<[string, tf.Variable]>, optimizer: Optimizer, lr: number, micro: MicroBatch[], clip = 0): StepResult {
  const { grads, loss, stats } = microBatchGradients(params, micro);
  try {
    const { norm: gradNorm, scale } = clipByGlobalNorm(grads, clip);
    if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) return { loss, stats, gradNorm, skipped: true };
    optimizer.step(Object.fromEntries(grads), lr, scale);
    return { loss, stats, gradNorm, skipped: false };
  } finally {
    tf.dispose([...grads.values()]);
  }
}

/**
 * Exponential moving average of the parameters (Polyak averaging), with the warmup of TensorFlow's
 * ExponentialMovingAverage(num_updates): after update t (from 1) the decay is min(decay, (1 + t) / (10 + t)),
 * so that the average follows the weights closely while they move fast early in training.
 */
export class Ema {
  private readonly shadow = new Map<string, tf.Variable>();

  constructor(
    private readonly params: Array<[string, tf.Variable]>,
    readonly decay: number,
    readonly warmup: boolean,
  ) {
    for (const [name, v] of params) this.shadow.set(name, tf.tidy(() => tf.variable(v.clone(), false)));
  }

  /** The decay used at update t (1-based). */
  decayAt(t: number): number {
    return this.warmup ? Math.min(this.decay, (1 + t) / (10 + t)) : this.decay;
  }

  /**
   * ema ← d·ema + (1 − d)·param, after the optimiser's update t: one pass per parameter where the backend
   * has the fused kernel SynthaugEma (the same float32 operations), else two multiplies and an add.
   */
  update(t: number): void {
    const d = this.decayAt(t);
    for (const [name, v] of this.params) {
      const s = this.shadow.get(name) as tf.Variable;
      tf.tidy(() => {
        const next = hasFusedKernel('SynthaugEma', s, v)
          ? (tf.engine().runKernel('SynthaugEma', { s, p: v }, { decay: d }) as tf.Tensor)
          : tf.add(tf.mul(s, d), tf.mul(v, 1 - d));
        s.assign(next);
      });
    }
  }

  /** The averaged tensors by parameter name (owned by the Ema: do not dispose). */
  tensors(): Map<string, tf.Tensor> {
    return new Map(this.shadow);
  }

  stateDict(): Map<string, StateTensor> {
    return new Map([...this.shadow].map(([k, v]) => [k, { shape: v.shape.slice(), data: v.dataSync() as Float32Array }]));
  }

  loadStateDict(state: Map<string, StateTensor>, source: string): void {
    for (const [name, s] of this.shadow) {
      const t = state.get(name);
      if (!t || t.shape.join(',') !== s.shape.join(',')) throw new Error(`${source}: no average of shape [${s.shape}] for ${name}`);
      tf.tidy(() => s.assign(tf.tensor(t.data, t.shape, 'float32')));
    }
  }

  dispose(): void {
    for (const v of this.shadow.values()) v.dispose();
    this.shadow.clear();
  }
}

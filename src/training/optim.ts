// Optimisers over named tf.Variables, with state that can be saved and restored exactly (for --resume).
// Written out rather than taken from tf.train so that the update rules match PyTorch's documented
// ones, weight decay can skip some parameters, and the state has stable names.
//
// Each rule is written twice, as one thing: as tfjs ops (about ten passes over a parameter), and as one
// fused kernel (SynthaugAdamW, SynthaugSgd) that the native kernel set registers (src/backend/native/), which
// does the same float32 operations in the same order in one pass, so both give the same weights.
import * as tf from '@tensorflow/tfjs-core';
import { hasFusedKernel } from '../backend/kernel-set.js';

export type OptimizerName = 'sgd' | 'adamw';

/** A named state tensor, as stored in optimizer.safetensors ("<param>.momentum_buffer", ...). */
export interface StateTensor {
  shape: number[];
  data: Float32Array;
}

export interface Optimizer {
  readonly name: OptimizerName;
  /** Number of updates applied so far. */
  readonly steps: number;
  /**
   * Applies one update with learning rate `lr` to the gradients times `gradScale` (clipping's factor, 1 when
   * not clipped); disposes nothing it does not own (grads stay the caller's).
   */
  step(grads: Record<string, tf.Tensor>, lr: number, gradScale?: number): void;
  /** Everything needed to continue exactly: tensors by name, plus scalars. */
  stateDict(): { tensors: Map<string, StateTensor>; scalars: Record<string, number> };
  loadStateDict(state: { tensors: Map<string, StateTensor>; scalars: Record<string, number> }): void;
  dispose(): void;
}

/**
 * Weight decay is applied to weights of rank ≥ 2 (conv kernels, linear and attention matrices) and not to
 * biases, normalisation gains/offsets (BatchNorm, LayerNorm: all rank 1), nor to ViT position embeddings
 * and class tokens (names containing pos_embed / cls_token), as in timm and the DeiT recipe.
 */
export function decays(name: string, v: tf.Variable): boolean {
  if (v.rank < 2) return false;
  return !/(^|\.)(pos_embed|cls_token)/.test(name);
}

/** Variables ← the fused kernel's outputs, in order. */
function assignAll(vars: tf.Variable[], outs: tf.Tensor | tf.Tensor[]): void {
  const values = Array.isArray(outs) ? outs : [outs];
  vars.forEach((v, i) => v.assign(values[i]));
}

/** g·scale, as clipping by global norm scales a gradient (not at all when 1). */
function scaled(g: tf.Tensor, scale: number): tf.Tensor {
  return scale === 1 ? g : tf.mul(g, scale);
}

interface Param {
  name: string;
  variable: tf.Variable;
  decay: boolean;
}

abstract class Base implements Optimizer {
  abstract readonly name: OptimizerName;
  protected t = 0;
  protected readonly params: Param[];
  protected readonly slots = new Map<string, tf.Variable>();

  constructor(named: Array<[string, tf.Variable]>, protected readonly weightDecay: number) {
    this.params = named.map(([name, variable]) => ({ name, variable, decay: decays(name, variable) }));
  }

  get steps(): number {
    return this.t;
  }

  protected slot(p: Param, kind: string): tf.Variable {
    const key = `${p.name}.${kind}`;
    let v = this.slots.get(key);
    if (!v) {
      v = tf.tidy(() => tf.variable(tf.zerosLike(p.variable), false));
      this.slots.set(key, v);
    }
    return v;
  }

  abstract step(grads: Record<string, tf.Tensor>, lr: number, gradScale?: number): void;

  protected grad(grads: Record<string, tf.Tensor>, p: Param): tf.Tensor | undefined {
    // tf.variableGrads keys gradients by the variable's internal name.
    return grads[p.variable.name] ?? grads[p.name];
  }

  stateDict(): { tensors: Map<string, StateTensor>; scalars: Record<string, number> } {
    const tensors = new Map<string, StateTensor>();
    for (const [key, v] of this.slots) tensors.set(key, { shape: v.shape.slice(), data: v.dataSync() as Float32Array });
    return { tensors, scalars: { step: this.t } };
  }

  loadStateDict(state: { tensors: Map<string, StateTensor>; scalars: Record<string, number> }): void {
    for (const [key, t] of state.tensors) {
      const p = this.params.find((q) => key.startsWith(`${q.name}.`) && !key.slice(q.name.length + 1).includes('.'));
      if (!p) throw new Error(`optimizer state ${key} names no parameter of the model`);
      if (t.shape.join(',') !== p.variable.shape.join(',')) {
        throw new Error(`optimizer state ${key} has shape [${t.shape}] but the parameter has [${p.variable.shape}]`);
      }
      const v = this.slot(p, key.slice(p.name.length + 1));
      tf.tidy(() => v.assign(tf.tensor(t.data, t.shape, 'float32')));
    }
    this.t = state.scalars.step ?? 0;
  }

  dispose(): void {
    for (const v of this.slots.values()) v.dispose();
    this.slots.clear();
  }
}

/**
 * SGD with momentum as torch.optim.SGD (dampening 0), with L2 weight decay added to the gradient:
 *   g ← ∇ + λ·p;  b ← μ·b + g;  d ← nesterov ? g + μ·b : b;  p ← p − lr·d
 * (Sutskever et al. 2013 for the Nesterov form used by PyTorch.)
 */
export class Sgd extends Base {
  readonly name = 'sgd' as const;
  constructor(named: Array<[string, tf.Variable]>, opts: { momentum: number; nesterov: boolean; weightDecay: number }) {
    super(named, opts.weightDecay);
    this.momentum = opts.momentum;
    this.nesterov = opts.nesterov;
  }
  private readonly momentum: number;
  private readonly nesterov: boolean;

  step(grads: Record<string, tf.Tensor>, lr: number, gradScale = 1): void {
    for (const p of this.params) {
      const grad = this.grad(grads, p);
      if (!grad) continue;
      const weightDecay = p.decay ? this.weightDecay : 0;
      tf.tidy(() => {
        if (hasFusedKernel('SynthaugSgd', p.variable, grad)) {
          const buf = this.momentum > 0 ? [this.slot(p, 'momentum_buffer')] : [];
          const inputs: tf.NamedTensorMap = buf.length ? { p: p.variable, g: grad, b: buf[0] } : { p: p.variable, g: grad };
          const attrs = { gradScale, weightDecay, momentum: this.momentum, nesterov: this.nesterov, lr };
          assignAll([p.variable, ...buf], tf.engine().runKernel('SynthaugSgd', inputs, attrs) as tf.Tensor[]);
          return;
        }
        const g0 = scaled(grad, gradScale);
        const g = weightDecay > 0 ? tf.add(g0, tf.mul(p.variable, weightDecay)) : g0;
        let d: tf.Tensor = g;
        if (this.momentum > 0) {
          const buf = this.slot(p, 'momentum_buffer');
          // PyTorch initialises the buffer with the first gradient; with a zero buffer, μ·0 + g is the same.
          const b = tf.add(tf.mul(buf, this.momentum), g);
          buf.assign(b);
          d = this.nesterov ? tf.add(g, tf.mul(b, this.momentum)) : b;
        }
        p.variable.assign(tf.sub(p.variable, tf.mul(d, lr)));
      });
    }
    this.t++;
  }
}

/**
 * AdamW (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization"), as torch.optim.AdamW:
 *   p ← p·(1 − lr·λ);  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;
 *   p ← p − lr · (m / (1−β1ᵗ)) / (√(v / (1−β2ᵗ)) + ε)
 */
export class AdamW extends Base {
  readonly name = 'adamw' as const;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;
  constructor(named: Array<[string, tf.Variable]>, opts: { weightDecay: number; beta1?: number; beta2?: number; eps?: number }) {
    super(named, opts.weightDecay);
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
  }

  step(grads: Record<string, tf.Tensor>, lr: number, gradScale = 1): void {
    const t = this.t + 1;
    const c1 = 1 - this.beta1 ** t;
    const c2 = 1 - this.beta2 ** t;
    for (const p of this.params) {
      const grad = this.grad(grads, p);
      if (!grad) continue;
      tf.tidy(() => {
        const m = this.slot(p, 'exp_avg');
        const v = this.slot(p, 'exp_avg_sq');
        if (hasFusedKernel('SynthaugAdamW', p.variable, grad)) {
          const keep = p.decay && this.weightDecay > 0 ? 1 - lr * this.weightDecay : 1;
          const attrs = { gradScale, beta1: this.beta1, beta2: this.beta2, c1, c2, eps: this.eps, lr, keep };
          assignAll([p.variable, m, v], tf.engine().runKernel('SynthaugAdamW', { p: p.variable, g: grad, m, v }, attrs) as tf.Tensor[]);
          return;
        }
        const g = scaled(grad, gradScale);
        const m1 = tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1));
        const v1 = tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        m.assign(m1);
        v.assign(v1);
        const decayed = p.decay && this.weightDecay > 0 ? tf.mul(p.variable, 1 - lr * this.weightDecay) : p.variable;
        const update = tf.div(tf.div(m1, c1), tf.add(tf.sqrt(tf.div(v1, c2)), this.eps));
        p.variable.assign(tf.sub(decayed, tf.mul(update, lr)));
      });
    }
    this.t = t;
  }
}

export interface OptimizerOptions {
  optimizer: OptimizerName;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
}

export function createOptimizer(named: Array<[string, tf.Variable]>, o: OptimizerOptions): Optimizer {
  return o.optimizer === 'sgd'
    ? new Sgd(named, { momentum: o.momentum, nesterov: o.nesterov, weightDecay: o.weightDecay })
    : new AdamW(named, { weightDecay: o.weightDecay });
}

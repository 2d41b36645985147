// Basic layers. Tensors are NHWC ([B, H, W, C]) as tfjs expects; parameter names follow PyTorch
// (weight, bias, running_mean, running_var) so that reference weights map one to one, with layouts
// converted at load time (PyTorch conv OIHW ↔ tfjs HWIO, linear [out, in] ↔ [in, out]).
import * as tf from '@tensorflow/tfjs-core';
import { Module, type ForwardContext } from './module.js';
import { kaimingNormal, uniform } from './init.js';
import { channelAffine, channelDot, channelSum } from './channels.js';
import type { Rng } from '../util/rng.js';

export type Padding = 'same' | 'valid' | number | [number, number];

export interface Conv2dOptions {
  stride?: number | [number, number];
  /** 'same' (TF-style, asymmetric when needed), 'valid', or symmetric PyTorch-style zero padding. */
  padding?: Padding;
  dilation?: number;
  bias?: boolean;
}

function pair(v: number | [number, number]): [number, number] {
  return typeof v === 'number' ? [v, v] : v;
}

/** tfjs padding argument for a Padding value. */
export function tfPadding(p: Padding): 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]] {
  if (p === 'same' || p === 'valid') return p;
  const [ph, pw] = pair(p);
  if (ph === 0 && pw === 0) return 'valid';
  return [[0, 0], [ph, ph], [pw, pw], [0, 0]];
}

export class Conv2d extends Module {
  readonly weight: tf.Variable; // [kh, kw, inC, outC]
  readonly bias?: tf.Variable; // [outC]
  private readonly stride: [number, number];
  private readonly pad: ReturnType<typeof tfPadding>;
  private readonly dilation: number;

  constructor(inC: number, outC: number, kernel: number | [number, number], rng: Rng, opts: Conv2dOptions = {}) {
    super();
    const [kh, kw] = pair(kernel);
    // He init with fan_out, as torchvision's ResNet (mode='fan_out', nonlinearity='relu').
    this.weight = this.param('weight', kaimingNormal([kh, kw, inC, outC], kh * kw * outC, rng));
    if (opts.bias) this.bias = this.param('bias', tf.zeros([outC]));
    this.stride = pair(opts.stride ?? 1);
    this.pad = tfPadding(opts.padding ?? 'same');
    this.dilation = opts.dilation ?? 1;
  }

  forward(x: tf.Tensor): tf.Tensor {
    // [B, H, W, inC] → [B, H', W', outC]
    const y = tf.conv2d(x as tf.Tensor4D, this.weight as tf.Tensor4D, this.stride, this.pad, 'NHWC', this.dilation);
    return this.bias ? tf.add(y, this.bias) : y;
  }
}

export class Linear extends Module {
  readonly weight: tf.Variable; // [in, out]
  readonly bias?: tf.Variable; // [out]

  constructor(inF: number, outF: number, rng: Rng, opts: { bias?: boolean; init?: (shape: number[]) => tf.Tensor } = {}) {
    super();
    // PyTorch's default: U(±1/sqrt(in)) for weight and bias.
    const bound = 1 / Math.sqrt(inF);
    this.weight = this.param('weight', opts.init ? opts.init([inF, outF]) : uniform([inF, outF], bound, rng));
    if (opts.bias ?? true) this.bias = this.param('bias', opts.init ? tf.zeros([outF]) : uniform([outF], bound, rng));
  }

  forward(x: tf.Tensor): tf.Tensor {
    // [..., in] → [..., out]
    const lead = x.shape.slice(0, -1);
    const flat = x.rank === 2 ? (x as tf.Tensor2D) : tf.reshape(x, [-1, x.shape[x.rank - 1]]) as tf.Tensor2D;
    let y: tf.Tensor = tf.matMul(flat, this.weight as tf.Tensor2D);
    if (this.bias) y = tf.add(y, this.bias);
    return x.rank === 2 ? y : tf.reshape(y, [...lead, this.weight.shape[1] as number]);
  }
}

/**
 * Batch normalisation over all axes but the last (Ioffe & Szegedy 2015). Running statistics use
 * PyTorch's convention: running = (1 − momentum)·running + momentum·batch, with the unbiased batch variance.
 */
export class BatchNorm extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;

  constructor(channels: number, private readonly opts: { momentum?: number; eps?: number; zeroInit?: boolean } = {}) {
    super();
    this.weight = this.param('weight', opts.zeroInit ? tf.zeros([channels]) : tf.ones([channels]));
    this.bias = this.param('bias', tf.zeros([channels]));
    this.runningMean = this.buffer('running_mean', tf.zeros([channels]));
    this.runningVar = this.buffer('running_var', tf.ones([channels]));
  }

  forward(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    const eps = this.opts.eps ?? 1e-5;
    if (!ctx.training) return tf.batchNorm(x, this.runningMean, this.runningVar, this.bias, this.weight, eps);
    return this.trainingForward(x, eps);
  }

  /**
   * Training mode as one differentiable node with the closed-form backward pass (Ioffe & Szegedy 2015, §3):
   * dx = γ·σ⁻¹/n · (n·dy − Σdy − x̂·Σ(dy·x̂)), dγ = Σ(dy·x̂), dβ = Σdy, sums over all axes but the channels.
   * Both halves are per-channel statistics and affine maps of x and dy (src/nn/channels.ts): forward
   * y = x·(γσ⁻¹) + (β − μγσ⁻¹); backward dx = dy·a + x·b + d with a = γσ⁻¹, b = −a·σ⁻¹·Σ(dy·x̂)/n and
   * d = −a·Σdy/n − μ·b. x, not x̂, is kept for the backward pass.
   */
  private trainingForward(input: tf.Tensor, eps: number): tf.Tensor {
    const n = input.size / input.shape[input.rank - 1];
    const m = this.opts.momentum ?? 0.1;
    const forward = (x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, save: tf.GradSaveFunc) => {
      const mean = tf.div(channelSum(x), n); // [C]
      const variance = tf.div(tf.relu(channelDot(x, x, mean)[1]), n); // Σ x·(x − μ) = Σ (x − μ)²
      // Running statistics are side effects outside the loss: no gradient flows to them.
      const unbiased = tf.mul(variance, n / Math.max(1, n - 1));
      this.runningMean.assign(tf.add(tf.mul(this.runningMean, 1 - m), tf.mul(mean, m)));
      this.runningVar.assign(tf.add(tf.mul(this.runningVar, 1 - m), tf.mul(unbiased, m)));
      const invStd = tf.rsqrt(tf.add(variance, eps)) as tf.Tensor1D; // [C]
      const scale = tf.mul(invStd, gamma) as tf.Tensor1D;
      save([x, mean, invStd, gamma]);
      return {
        value: channelAffine(x, scale, tf.sub(beta, tf.mul(mean, scale))),
        gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
          const g = dy as tf.Tensor;
          const [xs, mu, inv, gm] = saved as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
          const [sumDy, sumDyCentred] = channelDot(g, xs, mu); // Σdy, Σdy·(x − μ)
          const sumDyXhat = tf.mul(sumDyCentred, inv) as tf.Tensor1D;
          const a = tf.mul(gm, inv) as tf.Tensor1D;
          const b = tf.mul(a, tf.mul(inv, tf.div(sumDyXhat, -n))) as tf.Tensor1D;
          const d = tf.sub(tf.mul(a, tf.div(sumDy, -n)), tf.mul(mu, b)) as tf.Tensor1D;
          return [channelAffine(g, a, d, xs, b), sumDyXhat, sumDy];
        },
      };
    };
    const op = tf.customGrad(forward as unknown as Parameters<typeof tf.customGrad>[0]);
    return op(input, this.weight, this.bias);
  }
}

/** Layer normalisation over the last axis (Ba et al. 2016). */
export class LayerNorm extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(dim: number, private readonly eps = 1e-6) {
    super();
    this.weight = this.param('weight', tf.ones([dim]));
    this.bias = this.param('bias', tf.zeros([dim]));
  }

  /**
   * One differentiable node with the closed-form backward pass: with g = dy·γ and means over the last axis,
   * dx = σ⁻¹·(g − mean(g) − x̂·mean(g·x̂)); dγ = Σ dy·x̂ and dβ = Σ dy over every other axis (channel sums,
   * src/nn/channels.ts). Autodiff through tf.moments records several times more ops.
   */
  forward(input: tf.Tensor): tf.Tensor {
    const forward = (x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, save: tf.GradSaveFunc) => {
      const { mean, variance } = tf.moments(x, -1, true);
      const invStd = tf.rsqrt(tf.add(variance, this.eps));
      const xhat = tf.mul(tf.sub(x, mean), invStd);
      save([xhat, invStd, gamma]);
      return {
        value: channelAffine(xhat, gamma, beta),
        gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
          const grad = dy as tf.Tensor;
          const [xh, inv, gm] = saved;
          const g = tf.mul(grad, gm);
          const centred = tf.sub(tf.sub(g, tf.mean(g, -1, true)), tf.mul(xh, tf.mean(tf.mul(g, xh), -1, true)));
          const [sumDy, sumDyXhat] = channelDot(grad, xh, tf.zerosLike(gm));
          return [tf.mul(centred, inv), sumDyXhat, sumDy];
        },
      };
    };
    const op = tf.customGrad(forward as unknown as Parameters<typeof tf.customGrad>[0]);
    return op(input, this.weight, this.bias);
  }
}

/** Group normalisation over NHWC (Wu & He 2018): statistics per sample over H, W and C/G channels. */
export class GroupNorm extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(private readonly groups: number, private readonly channels: number, private readonly eps = 1e-5) {
    super();
    if (channels % groups !== 0) throw new Error(`GroupNorm: ${channels} channels do not split into ${groups} groups`);
    this.weight = this.param('weight', tf.ones([channels]));
    this.bias = this.param('bias', tf.zeros([channels]));
  }

  /**
   * One differentiable node with the closed-form backward pass (as BatchNorm's, per sample and group):
   * with d = dy·γ and n = H·W·C/G, dx = σ⁻¹/n · (n·d − Σd − x̂·Σ(d·x̂)) summed over H, W and the group's
   * channels; dγ = Σ(dy·x̂), dβ = Σdy over B, H, W. The sums are per-image channel sums (src/nn/channels.ts)
   * combined over each group's channels; forward and backward are then one affine map each, with [B, C]
   * coefficients: y = x·a + d, dx = dy·a + x·b + d'.
   */
  forward(input: tf.Tensor): tf.Tensor {
    const [b, , , c] = input.shape; // [B, H, W, C]
    const g = this.groups;
    const n = (input.size / b) / g;
    /** [B, C] per-channel sums → [B, C] sums over each channel's group. */
    const overGroup = (t: tf.Tensor) =>
      tf.reshape(tf.broadcastTo(tf.sum(tf.reshape(t, [b, g, c / g]), 2, true), [b, g, c / g]), [b, c]);
    const forward = (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, save: tf.GradSaveFunc) => {
      const mean = tf.div(overGroup(channelSum(x, true)), n); // [B, C]: each channel's group mean
      const variance = tf.div(tf.relu(overGroup(channelDot(x, x, mean, true)[1])), n);
      const invStd = tf.rsqrt(tf.add(variance, this.eps)); // [B, C]
      const scale = tf.mul(invStd, gamma);
      save([x, mean, invStd, gamma]);
      return {
        value: channelAffine(x, scale, tf.sub(beta, tf.mul(mean, scale))),
        gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
          const grad = dy as tf.Tensor;
          const [xs, mu, inv, gm] = saved;
          const [sumDy, sumDyCentred] = channelDot(grad, xs, mu, true); // [B, C]: Σdy, Σdy·(x − μ)
          const dyXhat = tf.mul(sumDyCentred, inv); // [B, C]: Σ dy·x̂ per image and channel
          const sumD = overGroup(tf.mul(sumDy, gm)); // Σd over the group
          const sumDXhat = overGroup(tf.mul(dyXhat, gm)); // Σ d·x̂ over the group
          const a = tf.mul(gm, inv);
          const bCoef = tf.mul(tf.square(inv), tf.div(sumDXhat, -n));
          const d = tf.sub(tf.mul(inv, tf.div(sumD, -n)), tf.mul(mu, bCoef));
          return [channelAffine(grad, a, d, xs, bCoef), tf.sum(dyXhat, 0), tf.sum(sumDy, 0)];
        },
      };
    };
    const op = tf.customGrad(forward as unknown as Parameters<typeof tf.customGrad>[0]);
    return op(input, this.weight, this.bias);
  }
}

/** Inverted dropout, seeded per call through tfjs's seeded uniform. */
export class Dropout extends Module {
  private calls = 0;
  constructor(private readonly rate: number, private readonly seed: number) {
    super();
  }
  forward(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    if (!ctx.training || this.rate === 0) return x;
    const seed = ctx.dropoutSeed === undefined ? this.seed + this.calls++ : (Math.imul(ctx.dropoutSeed >>> 0, 0x9e3779b1) ^ this.seed) >>> 0;
    const keep = tf.cast(tf.greaterEqual(tf.randomUniform(x.shape, 0, 1, 'float32', seed), this.rate), x.dtype);
    return tf.mul(x, tf.div(keep, 1 - this.rate));
  }
}

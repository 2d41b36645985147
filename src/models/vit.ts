// A small Vision Transformer (Dosovitskiy et al. 2021), pre-norm, with timm's parameter names:
// patch_embed.proj (patch x patch conv, stride patch) · cls_token [1, 1, D] · pos_embed [1, N+1, D]
// (learned) · blocks.{i}.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2} · norm · head (on
// the class token). LayerNorm eps 1e-6 as timm. GELU is the tanh approximation
// (0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), PyTorch's GELU(approximate='tanh')), built from ops
// that every backend has. Defaults suit 28x28 / 32x32 images: patch 4, dim 192, depth 6, heads 3.
import * as tf from '@tensorflow/tfjs-core';
import { Module, Sequential, type ForwardContext } from '../nn/module.js';
import { Conv2d, LayerNorm, Linear } from '../nn/layers.js';
import { truncatedNormal } from '../nn/init.js';
import { Rng } from '../util/rng.js';
import { UsageError } from '../errors.js';
import { ClassifierBase, resolveOptions, type ClassifierConfig, type OptionSpec } from './classifier.js';

export const vitOptions: Record<string, OptionSpec> = {
  patch: { default: 4, describe: 'patch size in pixels (must divide the image height and width)' },
  dim: { default: 192, describe: 'embedding width D' },
  depth: { default: 6, describe: 'number of transformer blocks' },
  heads: { default: 3, describe: 'attention heads (must divide dim)' },
  mlpRatio: { default: 4, integer: false, describe: 'MLP hidden width as a multiple of dim' },
};

const GELU_2C = 2 * Math.sqrt(2 / Math.PI);

/**
 * GELU, tanh approximation (Hendrycks & Gimpel 2016, §2): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))),
 * computed through the identity 0.5·(1 + tanh z) = sigmoid(2z) as x·sigmoid(2√(2/π)·x·(1 + 0.044715·x²)),
 * which is the same function but ~5x faster on WASM (its Sigmoid is vectorised, its Tanh is not).
 */
export function geluTanh(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(tf.mul(x, tf.add(tf.mul(tf.square(x), 0.044715 * GELU_2C), GELU_2C))));
}

function vitLinear(inF: number, outF: number, rng: Rng): Linear {
  // timm: trunc_normal(std=.02) weights, zero biases.
  return new Linear(inF, outF, rng, { init: (shape) => truncatedNormal(shape, 0.02, rng) });
}

/** Multi-head self-attention with a fused qkv projection (q, k, v stacked in that order on the output axis). */
class Attention extends Module {
  private readonly qkv: Linear;
  private readonly proj: Linear;
  constructor(private readonly dim: number, private readonly heads: number, rng: Rng) {
    super();
    this.qkv = this.child('qkv', vitLinear(dim, 3 * dim, rng));
    this.proj = this.child('proj', vitLinear(dim, dim, rng));
  }

  forward(x: tf.Tensor): tf.Tensor {
    const [b, n] = x.shape; // x: [B, N, D]
    const hd = this.dim / this.heads;
    const qkv = this.qkv.forward(x); // [B, N, 3D]
    const [q, k, v] = tf.split(qkv, 3, 2).map((t) => tf.transpose(tf.reshape(t, [b, n, this.heads, hd]), [0, 2, 1, 3])); // [B, h, N, hd]
    const att = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(hd))); // [B, h, N, N]
    const out = tf.reshape(tf.transpose(tf.matMul(att, v), [0, 2, 1, 3]), [b, n, this.dim]); // [B, N, D]
    return this.proj.forward(out);
  }
}

class Mlp extends Module {
  private readonly fc1: Linear;
  private readonly fc2: Linear;
  constructor(dim: number, hidden: number, rng: Rng) {
    super();
    this.fc1 = this.child('fc1', vitLinear(dim, hidden, rng));
    this.fc2 = this.child('fc2', vitLinear(hidden, dim, rng));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return this.fc2.forward(geluTanh(this.fc1.forward(x)));
  }
}

/** Pre-norm block: x + attn(norm1(x)), then x + mlp(norm2(x)). */
class Block extends Module {
  private readonly norm1: LayerNorm;
  private readonly attn: Attention;
  private readonly norm2: LayerNorm;
  private readonly mlp: Mlp;
  constructor(dim: number, heads: number, hidden: number, rng: Rng) {
    super();
    this.norm1 = this.child('norm1', new LayerNorm(dim, 1e-6));
    this.attn = this.child('attn', new Attention(dim, heads, rng));
    this.norm2 = this.child('norm2', new LayerNorm(dim, 1e-6));
    this.mlp = this.child('mlp', new Mlp(dim, hidden, rng));
  }
  forward(x: tf.Tensor): tf.Tensor {
    const h = tf.add(x, this.attn.forward(this.norm1.forward(x)));
    return tf.add(h, this.mlp.forward(this.norm2.forward(h)));
  }
}

class PatchEmbed extends Module {
  private readonly proj: Conv2d;
  constructor(inC: number, dim: number, patch: number, rng: Rng) {
    super();
    this.proj = this.child('proj', new Conv2d(inC, dim, patch, rng, { stride: patch, padding: 'valid', bias: true }));
  }
  forward(x: tf.Tensor): tf.Tensor {
    const y = this.proj.forward(x); // [B, H/p, W/p, D]
    const [b, gh, gw, d] = y.shape;
    return tf.reshape(y, [b, gh * gw, d]); // [B, N, D], patches in row-major order as timm's flatten(2)
  }
}

export class VisionTransformer extends ClassifierBase {
  private readonly clsToken: tf.Variable;
  private readonly posEmbed: tf.Variable;
  private readonly patchEmbed: PatchEmbed;
  private readonly blocks: Sequential;
  private readonly norm: LayerNorm;

  constructor(config: ClassifierConfig, seed: number) {
    const opts = resolveOptions(config.arch, config.options, vitOptions);
    const [patch, dim, depth, heads] = [opts.patch, opts.dim, opts.depth, opts.heads] as number[];
    const [h, w, c] = config.inputShape;
    if (h % patch !== 0 || w % patch !== 0) throw new UsageError(`vit: patch size ${patch} does not divide the ${h}x${w} input`);
    if (dim % heads !== 0) throw new UsageError(`vit: ${heads} heads do not divide dim ${dim}`);
    super({ ...config, options: opts }, dim);
    const rng = new Rng(seed);
    const tokens = (h / patch) * (w / patch) + 1;
    this.clsToken = this.param('cls_token', truncatedNormal([1, 1, dim], 0.02, rng));
    this.posEmbed = this.param('pos_embed', truncatedNormal([1, tokens, dim], 0.02, rng));
    this.patchEmbed = this.child('patch_embed', new PatchEmbed(c, dim, patch, rng));
    const hidden = Math.round(dim * (opts.mlpRatio as number));
    this.blocks = this.child('blocks', new Sequential(Array.from({ length: depth }, () => new Block(dim, heads, hidden, rng))));
    this.norm = this.child('norm', new LayerNorm(dim, 1e-6));
    this.addHead('head', rng, (shape) => truncatedNormal(shape, 0.02, rng));
  }

  protected trunk(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    const [h, w] = this.config.inputShape;
    if (x.shape[1] !== h || x.shape[2] !== w) throw new Error(`vit was built for ${h}x${w} images but received ${x.shape[1]}x${x.shape[2]}`);
    const patches = this.patchEmbed.forward(x); // [B, N, D]
    const b = patches.shape[0];
    const cls = tf.tile(this.clsToken, [b, 1, 1]); // [B, 1, D]
    let t = tf.add(tf.concat([cls, patches], 1), this.posEmbed); // [B, N+1, D]
    t = this.norm.forward(this.blocks.forward(t, ctx));
    return tf.reshape(tf.slice(t, [0, 0, 0], [b, 1, this.featureDim]), [b, this.featureDim]); // class token [B, D]
  }
}

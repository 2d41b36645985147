// A small class-conditional diffusion U-Net for 28x28 / 32x32 images, in the style of DDPM (Ho et al. 2020,
// Appendix B) as refined by improved DDPM (Nichol & Dhariwal 2021): sinusoidal timestep embedding → MLP,
// plus a learned class embedding with one extra "null" class for classifier-free guidance (Ho & Salimans
// 2022); residual blocks GroupNorm → SiLU → conv, conditioned by adding a projection of the embedding;
// one self-attention block at the lowest resolution (in the middle); strided-conv downsampling and
// nearest-neighbour ×2 + conv upsampling, with a skip connection from every down-path output.
//
// forward(x_t, {t, y}) → ε prediction, [B, H, W, C] in and out.
//
// Parameter names (dotted, as the PyTorch twin in bench/reference/unet_twin.py registers them):
//   time_embed.linear_1/linear_2, class_embed [numClasses + 1, E], conv_in,
//   down.{l}.res.{i}.{norm1,conv1,emb_proj,norm2,conv2,skip}, down.{l}.downsample,
//   mid.res1, mid.attn.{norm,qkv,proj}, mid.res2, up.{l}.res.{i}, up.{l}.upsample, norm_out, conv_out.
// Weights are HWIO / [in, out] here; src/models/torch.ts maps them to and from PyTorch layout (the class
// table is named without `.weight`, so that mapping leaves it as it is).
import * as tf from '@tensorflow/tfjs-core';
import { Module, type ForwardContext } from '../nn/module.js';
import { Conv2d, Dropout, GroupNorm, Linear } from '../nn/layers.js';
import { normal } from '../nn/init.js';
import { silu } from '../nn/activations.js';
import { Rng } from '../util/rng.js';

export interface UNetConfig {
  /** Side of the square images (28 or 32); must halve exactly at every level but the last. */
  imageSize: number;
  /** Image channels: 1 (grayscale) or 3 (RGB). */
  inChannels: number;
  /** Real classes; label `numClasses` is the null class (unconditional, for classifier-free guidance). */
  numClasses: number;
  /** Channels of the first level (64 by default). */
  baseChannels: number;
  /** Channel multiplier per resolution level (1, 2, 2): 28 → 14 → 7 for 28x28. */
  channelMult: number[];
  /** Residual blocks per level on the down path (the up path has one more, for the extra skip). */
  numResBlocks: number;
  /** Attention heads of the middle self-attention block. */
  attentionHeads: number;
  /** Dropout inside residual blocks, in training (DDPM used 0.1 on CIFAR-10). */
  dropout: number;
  /** GroupNorm groups (32 as in DDPM; must divide every channel count). */
  groups: number;
}

export const defaultUNetConfig: Omit<UNetConfig, 'imageSize' | 'inChannels' | 'numClasses'> = {
  baseChannels: 64,
  channelMult: [1, 2, 2],
  numResBlocks: 2,
  attentionHeads: 4,
  dropout: 0.1,
  groups: 32,
};

/** Forward context of the U-Net: the diffusion timesteps and class labels of the batch. */
export interface DenoiseContext extends ForwardContext {
  /** [B] timesteps (float; integer steps of a discrete schedule or continuous times). */
  t: tf.Tensor;
  /** [B] int32 labels in [0, numClasses]; numClasses means "no class". */
  y: tf.Tensor;
}

/** What the blocks receive: the conditioning embedding [B, E] beside the mode. */
interface EmbContext extends ForwardContext {
  emb: tf.Tensor;
}

/** Zeroes a freshly built layer's weights (improved DDPM's zero_module: each residual branch starts at 0). */
function zeroed<M extends Conv2d | Linear>(m: M): M {
  tf.tidy(() => m.weight.assign(tf.zerosLike(m.weight)));
  return m;
}

/**
 * Sinusoidal embedding of timesteps (Vaswani et al. 2017, as in improved DDPM's timestep_embedding):
 * [B] → [B, dim], cat(cos(t·f), sin(t·f)) with f_i = 10000^(−i / (dim/2)).
 */
export function timestepEmbedding(t: tf.Tensor, dim: number): tf.Tensor {
  const half = Math.floor(dim / 2);
  const freqs = Float32Array.from({ length: half }, (_, i) => Math.exp((-Math.log(10000) * i) / half));
  return tf.tidy(() => {
    const args = tf.mul(tf.reshape(tf.cast(t, 'float32'), [-1, 1]), tf.tensor2d(freqs, [1, half])); // [B, half]
    const emb = tf.concat([tf.cos(args), tf.sin(args)], 1);
    return dim % 2 === 0 ? emb : tf.pad(emb, [[0, 0], [0, 1]]);
  });
}

class ResBlock extends Module {
  private readonly norm1: GroupNorm;
  private readonly conv1: Conv2d;
  private readonly embProj: Linear;
  private readonly norm2: GroupNorm;
  private readonly drop: Dropout;
  private readonly conv2: Conv2d;
  private readonly skip?: Conv2d;

  constructor(inC: number, outC: number, embDim: number, cfg: UNetConfig, rng: Rng) {
    super();
    this.norm1 = this.child('norm1', new GroupNorm(cfg.groups, inC));
    this.conv1 = this.child('conv1', new Conv2d(inC, outC, 3, rng, { padding: 1, bias: true }));
    this.embProj = this.child('emb_proj', new Linear(embDim, outC, rng));
    this.norm2 = this.child('norm2', new GroupNorm(cfg.groups, outC));
    this.drop = new Dropout(cfg.dropout, rng.nextU32());
    this.conv2 = this.child('conv2', zeroed(new Conv2d(outC, outC, 3, rng, { padding: 1, bias: true })));
    if (inC !== outC) this.skip = this.child('skip', new Conv2d(inC, outC, 1, rng, { padding: 0, bias: true }));
  }

  forward(x: tf.Tensor, ctx: EmbContext): tf.Tensor {
    // [B, H, W, inC] → [B, H, W, outC]
    let h = this.conv1.forward(silu(this.norm1.forward(x)));
    const [b, , , c] = h.shape;
    h = tf.add(h, tf.reshape(this.embProj.forward(silu(ctx.emb)), [b, 1, 1, c]));
    h = this.conv2.forward(this.drop.forward(silu(this.norm2.forward(h)), ctx));
    return tf.add(this.skip ? this.skip.forward(x) : x, h);
  }
}

/** Multi-head self-attention over the H·W positions, with a residual connection. */
class AttentionBlock extends Module {
  private readonly norm: GroupNorm;
  private readonly qkv: Linear;
  private readonly proj: Linear;

  constructor(private readonly channels: number, private readonly heads: number, cfg: UNetConfig, rng: Rng) {
    super();
    if (channels % heads !== 0) throw new Error(`attention: ${channels} channels do not split into ${heads} heads`);
    this.norm = this.child('norm', new GroupNorm(cfg.groups, channels));
    this.qkv = this.child('qkv', new Linear(channels, 3 * channels, rng));
    this.proj = this.child('proj', zeroed(new Linear(channels, channels, rng)));
  }

  forward(x: tf.Tensor): tf.Tensor {
    const [b, h, w, c] = x.shape;
    const n = h * w;
    const d = c / this.heads;
    const qkv = this.qkv.forward(tf.reshape(this.norm.forward(x), [b, n, c])); // [B, N, 3C]
    // [B, N, 3, heads, d] → [3, B, heads, N, d]
    const parts = tf.transpose(tf.reshape(qkv, [b, n, 3, this.heads, d]), [2, 0, 3, 1, 4]);
    const [q, k, v] = tf.unstack(parts).map((p) => tf.reshape(p, [b * this.heads, n, d]) as tf.Tensor3D);
    const att = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(d))); // [B·heads, N, N]
    const out = tf.transpose(tf.reshape(tf.matMul(att, v), [b, this.heads, n, d]), [0, 2, 1, 3]); // [B, N, heads, d]
    return tf.add(x, tf.reshape(this.proj.forward(tf.reshape(out, [b, n, c])), [b, h, w, c]));
  }
}

interface Level {
  res: ResBlock[];
  resample?: Conv2d;
}

export class UNet extends Module {
  readonly config: UNetConfig;
  private readonly timeLinear1: Linear;
  private readonly timeLinear2: Linear;
  private readonly classEmbed: tf.Variable; // [numClasses + 1, E]
  private readonly convIn: Conv2d;
  private readonly down: Level[] = [];
  private readonly midRes1: ResBlock;
  private readonly midAttn: AttentionBlock;
  private readonly midRes2: ResBlock;
  private readonly up: Level[] = []; // up[0] is the lowest resolution (applied first)
  private readonly normOut: GroupNorm;
  private readonly convOut: Conv2d;

  constructor(config: UNetConfig, seed: number) {
    super();
    this.config = { ...config, channelMult: [...config.channelMult] };
    const cfg = this.config;
    checkConfig(cfg);
    const rng = new Rng(seed);
    const base = cfg.baseChannels;
    const embDim = 4 * base;
    this.timeLinear1 = this.child('time_embed.linear_1', new Linear(base, embDim, rng));
    this.timeLinear2 = this.child('time_embed.linear_2', new Linear(embDim, embDim, rng));
    this.classEmbed = this.param('class_embed', normal([cfg.numClasses + 1, embDim], 1, rng));
    this.convIn = this.child('conv_in', new Conv2d(cfg.inChannels, base, 3, rng, { padding: 1, bias: true }));

    const skips = [base];
    let ch = base;
    const last = cfg.channelMult.length - 1;
    cfg.channelMult.forEach((mult, l) => {
      const level: Level = { res: [] };
      for (let i = 0; i < cfg.numResBlocks; i++) {
        level.res.push(this.child(`down.${l}.res.${i}`, new ResBlock(ch, mult * base, embDim, cfg, rng)));
        ch = mult * base;
        skips.push(ch);
      }
      if (l !== last) {
        level.resample = this.child(`down.${l}.downsample`, new Conv2d(ch, ch, 3, rng, { stride: 2, padding: 1, bias: true }));
        skips.push(ch);
      }
      this.down.push(level);
    });

    this.midRes1 = this.child('mid.res1', new ResBlock(ch, ch, embDim, cfg, rng));
    this.midAttn = this.child('mid.attn', new AttentionBlock(ch, cfg.attentionHeads, cfg, rng));
    this.midRes2 = this.child('mid.res2', new ResBlock(ch, ch, embDim, cfg, rng));

    for (let l = last; l >= 0; l--) {
      const level: Level = { res: [] };
      const outC = cfg.channelMult[l] * base;
      for (let i = 0; i <= cfg.numResBlocks; i++) {
        level.res.push(this.child(`up.${l}.res.${i}`, new ResBlock(ch + (skips.pop() as number), outC, embDim, cfg, rng)));
        ch = outC;
      }
      if (l !== 0) level.resample = this.child(`up.${l}.upsample`, new Conv2d(ch, ch, 3, rng, { padding: 1, bias: true }));
      this.up.push(level);
    }
    this.normOut = this.child('norm_out', new GroupNorm(cfg.groups, ch));
    this.convOut = this.child('conv_out', zeroed(new Conv2d(ch, cfg.inChannels, 3, rng, { padding: 1, bias: true })));
  }

  /** [B, H, W, C] noisy images x_t, with ctx.t [B] and ctx.y [B] → [B, H, W, C] predicted noise ε. */
  forward(x: tf.Tensor, ctx: DenoiseContext): tf.Tensor {
    const { imageSize: s, inChannels: c, numClasses } = this.config;
    if (x.rank !== 4 || x.shape[1] !== s || x.shape[2] !== s || x.shape[3] !== c) {
      throw new Error(`U-Net built for [B, ${s}, ${s}, ${c}] but received [${x.shape}]`);
    }
    if (!ctx.t || !ctx.y || ctx.t.size !== x.shape[0] || ctx.y.size !== x.shape[0]) {
      throw new Error(`U-Net forward needs timesteps t and labels y with one entry per image (batch ${x.shape[0]})`);
    }
    return tf.tidy(() => {
      const base = this.config.baseChannels;
      let emb = this.timeLinear2.forward(silu(this.timeLinear1.forward(timestepEmbedding(ctx.t, base)))); // [B, E]
      // Class embedding as one-hot · table: the same as a gather, with a plain matMul gradient.
      // (A model without classes has only the null row: it is added to every image.)
      const cls = numClasses === 0 ? this.classEmbed : tf.matMul(tf.oneHot(tf.cast(ctx.y, 'int32'), numClasses + 1), this.classEmbed as tf.Tensor2D);
      emb = tf.add(emb, cls);
      const ectx: EmbContext = { training: ctx.training, dropoutSeed: ctx.dropoutSeed, emb };

      let h = this.convIn.forward(x);
      const hs = [h];
      for (const level of this.down) {
        for (const block of level.res) hs.push((h = block.forward(h, ectx)));
        if (level.resample) hs.push((h = level.resample.forward(h)));
      }
      h = this.midRes2.forward(this.midAttn.forward(this.midRes1.forward(h, ectx)), ectx);
      for (const level of this.up) {
        for (const block of level.res) h = block.forward(tf.concat([h, hs.pop() as tf.Tensor], 3), ectx);
        if (level.resample) {
          const [, hh, ww] = h.shape;
          h = level.resample.forward(tf.image.resizeNearestNeighbor(h as tf.Tensor4D, [2 * hh, 2 * ww]));
        }
      }
      return this.convOut.forward(silu(this.normOut.forward(h)));
    });
  }

  /** ε prediction for labels y at timesteps t (shorthand for forward with a DenoiseContext). */
  predictNoise(x: tf.Tensor, t: tf.Tensor, y: tf.Tensor, training = false): tf.Tensor {
    return this.forward(x, { training, t, y });
  }
}

function checkConfig(cfg: UNetConfig): void {
  const bad = (what: string): never => {
    throw new Error(`U-Net config: ${what}`);
  };
  if (!(cfg.channelMult.length >= 1)) bad('channelMult needs at least one level');
  let s = cfg.imageSize;
  for (let l = 0; l < cfg.channelMult.length - 1; l++) {
    if (s % 2 !== 0) bad(`imageSize ${cfg.imageSize} does not halve ${cfg.channelMult.length - 1} times`);
    s /= 2;
  }
  for (const m of cfg.channelMult) {
    if (!Number.isInteger(m) || m <= 0) bad(`channel multiplier ${m} is not a positive integer`);
    if ((m * cfg.baseChannels) % cfg.groups !== 0) bad(`${m * cfg.baseChannels} channels do not split into ${cfg.groups} groups`);
  }
  if (cfg.baseChannels % cfg.groups !== 0) bad(`${cfg.baseChannels} channels do not split into ${cfg.groups} groups`);
  if (!(cfg.dropout >= 0 && cfg.dropout < 1)) bad(`dropout ${cfg.dropout} is outside [0, 1)`);
}

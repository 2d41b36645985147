// Inception-v3 as the FID network (Szegedy et al. 2016, "Rethinking the Inception Architecture"), in the
// variant that pytorch-fid and torch-fidelity use with the TF-ported weights
// pt_inception-2015-12-05-6726825d.pth: 1008-way classifier, no auxiliary head, BN eps 0.001, and four
// block patches that reproduce TensorFlow's graph (pytorch-fid's FIDInceptionA/C/E_1/E_2):
//   - the pool branch of Mixed_5b..5d (A), 6b..6e (C) and 7b (E_1) averages 3x3 without counting the
//     padded zeros (count_include_pad=False, which is what tf.avgPool 'same' does);
//   - the pool branch of Mixed_7c (E_2) is a 3x3 max-pool instead.
// Input path (pytorch-fid): images in [0, 1] → bilinear resize to 299x299 (align_corners=False) → 2x − 1.
//
// Parameter names are the keys of that state dict (Conv2d_1a_3x3.conv.weight, Mixed_5b.branch1x1.bn.running_var,
// ..., fc.weight); tensors are NHWC and weights HWIO / [in, out] here, mapped to and from PyTorch layout by
// src/models/torch.ts.
import * as tf from '@tensorflow/tfjs-core';
import { Module, type ForwardContext } from '../nn/module.js';
import { BatchNorm, Conv2d, Linear, tfPadding } from '../nn/layers.js';
import { Rng } from '../util/rng.js';

export const INCEPTION_SIZE = 299;
export const INCEPTION_FEATURES = 2048;
export const INCEPTION_CLASSES = 1008;
const BN_EPS = 0.001;

type Kernel = number | [number, number];

/** The eval-mode conv: BN folded into the filter and a bias, and the tensors they were folded from. */
interface Folded {
  from: object[];
  filter: tf.Tensor4D;
  bias: tf.Tensor1D;
}

/** Conv (no bias) → BatchNorm(eps 0.001) → ReLU; torchvision's BasicConv2d, named `conv` and `bn`. */
export class BasicConv2d extends Module {
  readonly conv: Conv2d;
  readonly bn: BatchNorm;
  private readonly stride: number;
  private readonly pad: ReturnType<typeof tfPadding>;
  private folded: Folded | undefined;

  constructor(inC: number, outC: number, kernel: Kernel, rng: Rng, opts: { stride?: number; padding?: Kernel } = {}) {
    super();
    this.stride = opts.stride ?? 1;
    this.pad = tfPadding(opts.padding ?? 0);
    this.conv = this.child('conv', new Conv2d(inC, outC, kernel, rng, { stride: this.stride, padding: opts.padding ?? 0 }));
    this.bn = this.child('bn', new BatchNorm(outC, { eps: BN_EPS }));
  }

  forward(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    if (ctx.training) return tf.relu(this.bn.forward(this.conv.forward(x), ctx));
    // Eval: BN folded into the conv and one fused conv + bias + ReLU kernel.
    const { filter, bias } = this.foldedConv();
    return tf.fused.conv2d({ x: x as tf.Tensor4D, filter, bias, strides: this.stride, pad: this.pad, activation: 'relu' });
  }

  /**
   * The filter w·γ/√(σ²+ε) and bias β − μ·γ/√(σ²+ε), folded once and kept until one of the five variables
   * changes: a variable's assign gives it a new tensor (dataId), so the cache is keyed by those. Under a
   * gradient tape they are folded afresh, so that gradients reach the variables.
   */
  private foldedConv(): { filter: tf.Tensor4D; bias: tf.Tensor1D } {
    const vars = [this.conv.weight, this.bn.weight, this.bn.bias, this.bn.runningMean, this.bn.runningVar];
    const fold = () => {
      const scale = tf.mul(this.bn.weight, tf.rsqrt(tf.add(this.bn.runningVar, BN_EPS))); // [out]
      const filter = tf.mul(this.conv.weight, scale) as tf.Tensor4D; // [kh, kw, in, out]
      const bias = tf.sub(this.bn.bias, tf.mul(this.bn.runningMean, scale)) as tf.Tensor1D;
      return { filter, bias };
    };
    if (tf.engine().state.gradientDepth > 0) return fold();
    const from = vars.map((v) => v.dataId);
    const cached = this.folded;
    if (cached && !cached.filter.isDisposed && cached.from.every((d, i) => d === from[i])) return cached;
    this.dropFolded();
    const { filter, bias } = tf.tidy(fold);
    this.folded = { from, filter: tf.keep(filter), bias: tf.keep(bias) };
    return this.folded;
  }

  private dropFolded(): void {
    if (this.folded) tf.dispose([this.folded.filter, this.folded.bias]);
    this.folded = undefined;
  }

  override dispose(): void {
    this.dropFolded();
    super.dispose();
  }
}

/** A named branch: convs applied in order. */
function chain(x: tf.Tensor, convs: BasicConv2d[], ctx: ForwardContext): tf.Tensor {
  return convs.reduce((h, c) => c.forward(h, ctx), x);
}

/** 3x3 stride-1 average pool that ignores the padded zeros (TF 'same'; pytorch-fid's count_include_pad=False). */
function avgPoolSame(x: tf.Tensor): tf.Tensor {
  return tf.avgPool(x as tf.Tensor4D, 3, 1, 'same');
}

/** FIDInceptionA (Mixed_5b, 5c, 5d): [B, 35, 35, in] → [B, 35, 35, 224 + poolFeatures]. */
class InceptionA extends Module {
  private readonly b1: BasicConv2d;
  private readonly b5: BasicConv2d[];
  private readonly b3: BasicConv2d[];
  private readonly pool: BasicConv2d;

  constructor(inC: number, poolFeatures: number, rng: Rng) {
    super();
    this.b1 = this.child('branch1x1', new BasicConv2d(inC, 64, 1, rng));
    this.b5 = [
      this.child('branch5x5_1', new BasicConv2d(inC, 48, 1, rng)),
      this.child('branch5x5_2', new BasicConv2d(48, 64, 5, rng, { padding: 2 })),
    ];
    this.b3 = [
      this.child('branch3x3dbl_1', new BasicConv2d(inC, 64, 1, rng)),
      this.child('branch3x3dbl_2', new BasicConv2d(64, 96, 3, rng, { padding: 1 })),
      this.child('branch3x3dbl_3', new BasicConv2d(96, 96, 3, rng, { padding: 1 })),
    ];
    this.pool = this.child('branch_pool', new BasicConv2d(inC, poolFeatures, 1, rng));
  }

  forward(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    return tf.concat([this.b1.forward(x, ctx), chain(x, this.b5, ctx), chain(x, this.b3, ctx), this.pool.forward(avgPoolSame(x), ctx)], 3);
  }
}

/** InceptionB (Mixed_6a), unpatched: [B, 35, 35, 288] → [B, 17, 17, 768]. */
class InceptionB extends Module {
  private readonly b3: BasicConv2d;
  private readonly bd: BasicConv2d[];

  constructor(inC: number, rng: Rng) {
    super();
    this.b3 = this.child('branch3x3', new BasicConv2d(inC, 384, 3, rng, { stride: 2 }));
    this.bd = [
      this.child('branch3x3dbl_1', new BasicConv2d(inC, 64, 1, rng)),
      this.child('branch3x3dbl_2', new BasicConv2d(64, 96, 3, rng, { padding: 1 })),
      this.child('branch3x3dbl_3', new BasicConv2d(96, 96, 3, rng, { stride: 2 })),
    ];
  }

  forward(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    const pool = tf.maxPool(x as tf.Tensor4D, 3, 2, 'valid');
    return tf.concat([this.b3.forward(x, ctx), chain(x, this.bd, ctx), pool], 3);
  }
}

/** FIDInceptionC (Mixed_6b..6e): factorised 7x7 as 1x7 and 7x1; [B, 17, 17, 768] → [B, 17, 17, 768]. */
class InceptionC extends Module {
  private readonly b1: BasicConv2d;
  private readonly b7: BasicConv2d[];
  private readonly b7d: BasicConv2d[];
  private readonly pool: BasicConv2d;

  constructor(inC: number, c7: number, rng: Rng) {
    super();
    const row = { padding: [0, 3] as [number, number] }; // kernel (1, 7)
    const col = { padding: [3, 0] as [number, number] }; // kernel (7, 1)
    this.b1 = this.child('branch1x1', new BasicConv2d(inC, 192, 1, rng));
    this.b7 = [
      this.child('branch7x7_1', new BasicConv2d(inC, c7, 1, rng)),
      this.child('branch7x7_2', new BasicConv2d(c7, c7, [1, 7], rng, row)),
      this.child('branch7x7_3', new BasicConv2d(c7, 192, [7, 1], rng, col)),
    ];
    this.b7d = [
      this.child('branch7x7dbl_1', new BasicConv2d(inC, c7, 1, rng)),
      this.child('branch7x7dbl_2', new BasicConv2d(c7, c7, [7, 1], rng, col)),
      this.child('branch7x7dbl_3', new BasicConv2d(c7, c7, [1, 7], rng, row)),
      this.child('branch7x7dbl_4', new BasicConv2d(c7, c7, [7, 1], rng, col)),
      this.child('branch7x7dbl_5', new BasicConv2d(c7, 192, [1, 7], rng, row)),
    ];
    this.pool = this.child('branch_pool', new BasicConv2d(inC, 192, 1, rng));
  }

  forward(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    return tf.concat([this.b1.forward(x, ctx), chain(x, this.b7, ctx), chain(x, this.b7d, ctx), this.pool.forward(avgPoolSame(x), ctx)], 3);
  }
}

/** InceptionD (Mixed_7a), unpatched: [B, 17, 17, 768] → [B, 8, 8, 1280]. */
class InceptionD extends Module {
  private readonly b3: BasicConv2d[];
  private readonly b7: BasicConv2d[];

  constructor(inC: number, rng: Rng) {
    super();
    this.b3 = [
      this.child('branch3x3_1', new BasicConv2d(inC, 192, 1, rng)),
      this.child('branch3x3_2', new BasicConv2d(192, 320, 3, rng, { stride: 2 })),
    ];
    this.b7 = [
      this.child('branch7x7x3_1', new BasicConv2d(inC, 192, 1, rng)),
      this.child('branch7x7x3_2', new BasicConv2d(192, 192, [1, 7], rng, { padding: [0, 3] })),
      this.child('branch7x7x3_3', new BasicConv2d(192, 192, [7, 1], rng, { padding: [3, 0] })),
      this.child('branch7x7x3_4', new BasicConv2d(192, 192, 3, rng, { stride: 2 })),
    ];
  }

  forward(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    const pool = tf.maxPool(x as tf.Tensor4D, 3, 2, 'valid');
    return tf.concat([chain(x, this.b3, ctx), chain(x, this.b7, ctx), pool], 3);
  }
}

/**
 * FIDInceptionE_1 (Mixed_7b, average pool) and FIDInceptionE_2 (Mixed_7c, max pool):
 * [B, 8, 8, in] → [B, 8, 8, 2048].
 */
class InceptionE extends Module {
  private readonly b1: BasicConv2d;
  private readonly b3: BasicConv2d;
  private readonly b3a: BasicConv2d;
  private readonly b3b: BasicConv2d;
  private readonly bd: BasicConv2d[];
  private readonly bda: BasicConv2d;
  private readonly bdb: BasicConv2d;
  private readonly pool: BasicConv2d;

  constructor(inC: number, private readonly poolKind: 'avg' | 'max', rng: Rng) {
    super();
    const row = { padding: [0, 1] as [number, number] }; // kernel (1, 3)
    const col = { padding: [1, 0] as [number, number] }; // kernel (3, 1)
    this.b1 = this.child('branch1x1', new BasicConv2d(inC, 320, 1, rng));
    this.b3 = this.child('branch3x3_1', new BasicConv2d(inC, 384, 1, rng));
    this.b3a = this.child('branch3x3_2a', new BasicConv2d(384, 384, [1, 3], rng, row));
    this.b3b = this.child('branch3x3_2b', new BasicConv2d(384, 384, [3, 1], rng, col));
    this.bd = [
      this.child('branch3x3dbl_1', new BasicConv2d(inC, 448, 1, rng)),
      this.child('branch3x3dbl_2', new BasicConv2d(448, 384, 3, rng, { padding: 1 })),
    ];
    this.bda = this.child('branch3x3dbl_3a', new BasicConv2d(384, 384, [1, 3], rng, row));
    this.bdb = this.child('branch3x3dbl_3b', new BasicConv2d(384, 384, [3, 1], rng, col));
    this.pool = this.child('branch_pool', new BasicConv2d(inC, 192, 1, rng));
  }

  forward(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    const s = this.b3.forward(x, ctx);
    const d = chain(x, this.bd, ctx);
    const pooled = this.poolKind === 'max' ? tf.maxPool(x as tf.Tensor4D, 3, 1, 'same') : avgPoolSame(x);
    return tf.concat(
      [
        this.b1.forward(x, ctx),
        this.b3a.forward(s, ctx),
        this.b3b.forward(s, ctx),
        this.bda.forward(d, ctx),
        this.bdb.forward(d, ctx),
        this.pool.forward(pooled, ctx),
      ],
      3,
    );
  }
}

export interface InceptionOutputs {
  /** [B, 2048] final average-pool features (what FID, KID and precision/recall use). */
  pool: tf.Tensor2D;
  /** [B, 1008] logits of the fc layer (what the Inception Score uses, after softmax). */
  logits: tf.Tensor2D;
}

/**
 * The FID Inception-v3. `run` takes images in [0, 1] of any size ([B, H, W, 3]) and applies pytorch-fid's
 * input path; `features`/`forward` take an already prepared [B, 299, 299, 3] batch in [-1, 1].
 * Built with placeholder weights: load the real ones with importTorchState (src/models/torch.ts).
 */
export class FIDInceptionV3 extends Module {
  private readonly stem: BasicConv2d[];
  private readonly stem2: BasicConv2d[];
  private readonly mixed: Module[];
  readonly fc: Linear;

  constructor(seed = 0) {
    super();
    const rng = new Rng(seed);
    this.stem = [
      this.child('Conv2d_1a_3x3', new BasicConv2d(3, 32, 3, rng, { stride: 2 })), // 299 → 149
      this.child('Conv2d_2a_3x3', new BasicConv2d(32, 32, 3, rng)), // → 147
      this.child('Conv2d_2b_3x3', new BasicConv2d(32, 64, 3, rng, { padding: 1 })), // → 147, then max-pool → 73
    ];
    this.stem2 = [
      this.child('Conv2d_3b_1x1', new BasicConv2d(64, 80, 1, rng)), // 73
      this.child('Conv2d_4a_3x3', new BasicConv2d(80, 192, 3, rng)), // → 71, then max-pool → 35
    ];
    this.mixed = [
      this.child('Mixed_5b', new InceptionA(192, 32, rng)), // 35x35x256
      this.child('Mixed_5c', new InceptionA(256, 64, rng)), // 35x35x288
      this.child('Mixed_5d', new InceptionA(288, 64, rng)), // 35x35x288
      this.child('Mixed_6a', new InceptionB(288, rng)), // 17x17x768
      this.child('Mixed_6b', new InceptionC(768, 128, rng)),
      this.child('Mixed_6c', new InceptionC(768, 160, rng)),
      this.child('Mixed_6d', new InceptionC(768, 160, rng)),
      this.child('Mixed_6e', new InceptionC(768, 192, rng)), // 17x17x768
      this.child('Mixed_7a', new InceptionD(768, rng)), // 8x8x1280
      this.child('Mixed_7b', new InceptionE(1280, 'avg', rng)), // 8x8x2048
      this.child('Mixed_7c', new InceptionE(2048, 'max', rng)), // 8x8x2048
    ];
    this.fc = this.child('fc', new Linear(INCEPTION_FEATURES, INCEPTION_CLASSES, rng));
  }

  /** [B, H, W, 3] in [0, 1] → [B, 299, 299, 3] in [-1, 1] (bilinear, half-pixel centres = align_corners=False). */
  preprocess(images: tf.Tensor): tf.Tensor4D {
    return tf.tidy(() => {
      checkRgb(images);
      let x = images as tf.Tensor4D;
      if (x.shape[1] !== INCEPTION_SIZE || x.shape[2] !== INCEPTION_SIZE) {
        x = tf.image.resizeBilinear(x, [INCEPTION_SIZE, INCEPTION_SIZE], false, true);
      }
      return tf.sub(tf.mul(x, 2), 1) as tf.Tensor4D;
    });
  }

  /** [B, 299, 299, 3] in [-1, 1] → [B, 2048] pool features. */
  features(x: tf.Tensor, ctx: ForwardContext = { training: false }): tf.Tensor2D {
    checkRgb(x);
    return tf.tidy(() => this.trunk(x, ctx));
  }

  /** [B, 299, 299, 3] in [-1, 1] → [B, 1008] logits. */
  forward(x: tf.Tensor, ctx: ForwardContext = { training: false }): tf.Tensor2D {
    checkRgb(x);
    return tf.tidy(() => this.fc.forward(this.trunk(x, ctx)) as tf.Tensor2D);
  }

  /** Images in [0, 1], any size → pool features and logits in one pass (eval mode). */
  run(images: tf.Tensor): InceptionOutputs {
    return tf.tidy(() => {
      const pool = this.trunk(this.preprocess(images), { training: false });
      return { pool, logits: this.fc.forward(pool) as tf.Tensor2D };
    });
  }

  private trunk(x: tf.Tensor, ctx: ForwardContext): tf.Tensor2D {
    let h = chain(x, this.stem, ctx);
    h = tf.maxPool(h as tf.Tensor4D, 3, 2, 'valid');
    h = chain(h, this.stem2, ctx);
    h = tf.maxPool(h as tf.Tensor4D, 3, 2, 'valid');
    for (const block of this.mixed) h = block.forward(h, ctx);
    return tf.mean(h, [1, 2]) as tf.Tensor2D; // adaptive average pool to 1x1, [B, 2048]
  }

}

function checkRgb(x: tf.Tensor): void {
  if (x.rank !== 4 || x.shape[3] !== 3) throw new Error(`Inception-v3 expects [B, H, W, 3] images but received [${x.shape}]`);
}

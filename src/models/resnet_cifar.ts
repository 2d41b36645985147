// CIFAR-style residual networks (He et al. 2016, "Deep Residual Learning", §4.2): a 3x3 stem conv
// with `width` channels, then three stages of n BasicBlocks with width, 2·width, 4·width channels
// (the first block of stages 2 and 3 halves the resolution), global average pooling and a linear
// head. Depth 6n+2: resnet20 (n=3), resnet32 (5), resnet44 (7), resnet56 (9).
//
// Shortcut: option A by default, as in the paper's CIFAR experiments (its Table 6 counts 0.27M
// parameters for ResNet-20): when a block halves the resolution and doubles the channels, the
// identity is subsampled (x[:, ::2, ::2], as a 1x1 stride-2 max-pool) and zero-padded with the new channels, adding no
// parameters. Option B (`shortcut: 'B'`) uses a 1x1 strided conv + BN projection instead, named
// `downsample.0` / `downsample.1` as torchvision does.
//
// Names: conv1, bn1, layer{1,2,3}.{i}.{conv1,bn1,conv2,bn2}, fc. Input NHWC, any size ≥ 8 px.
import * as tf from '@tensorflow/tfjs-core';
import { Module, Sequential, type ForwardContext } from '../nn/module.js';
import { BatchNorm, Conv2d } from '../nn/layers.js';
import { Rng } from '../util/rng.js';
import { UsageError } from '../errors.js';
import { ClassifierBase, globalAvgPool, resolveOptions, type ClassifierConfig, type OptionSpec } from './classifier.js';

export const cifarResNetOptions: Record<string, OptionSpec> = {
  shortcut: { default: 'A', choices: ['A', 'B'], describe: 'A: subsample + zero-pad identity (no parameters); B: 1x1 conv + BN projection' },
  width: { default: 16, describe: 'channels of the first stage (doubled in each of the next two)' },
  zeroInitResidual: { default: false, describe: 'start the last BN gamma of each block at 0, so every block begins as the identity' },
};

class CifarBasicBlock extends Module {
  private readonly conv1: Conv2d;
  private readonly bn1: BatchNorm;
  private readonly conv2: Conv2d;
  private readonly bn2: BatchNorm;
  private readonly downsample?: Sequential;
  private readonly padChannels: number;

  constructor(inC: number, outC: number, private readonly stride: number, shortcut: string, zeroInit: boolean, rng: Rng) {
    super();
    this.conv1 = this.child('conv1', new Conv2d(inC, outC, 3, rng, { stride, padding: 1 }));
    this.bn1 = this.child('bn1', new BatchNorm(outC));
    this.conv2 = this.child('conv2', new Conv2d(outC, outC, 3, rng, { padding: 1 }));
    this.bn2 = this.child('bn2', new BatchNorm(outC, { zeroInit }));
    const reshape = stride !== 1 || inC !== outC;
    if (reshape && shortcut === 'B') {
      this.downsample = this.child('downsample', new Sequential([new Conv2d(inC, outC, 1, rng, { stride, padding: 0 }), new BatchNorm(outC)]));
    }
    this.padChannels = reshape && shortcut === 'A' ? outC - inC : 0;
    if (this.padChannels % 2 !== 0 || this.padChannels < 0) {
      throw new UsageError(`the option-A shortcut cannot zero-pad ${inC} to ${outC} channels evenly: use an even width or shortcut B`);
    }
  }

  forward(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    // [B, H, W, inC] → [B, H/s, W/s, outC]
    const h = tf.relu(this.bn1.forward(this.conv1.forward(x), ctx));
    const y = this.bn2.forward(this.conv2.forward(h), ctx);
    return tf.relu(tf.add(y, this.shortcut(x, ctx)));
  }

  private shortcut(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    if (this.downsample) return this.downsample.forward(x, ctx);
    if (this.padChannels === 0 && this.stride === 1) return x;
    // x[:, ::s, ::s, :] as a 1x1 max-pool with stride s: the same values, and on WASM ~30x faster
    // than StridedSlice forward and ~6x backward.
    const sub = this.stride === 1 ? x : tf.maxPool(x as tf.Tensor4D, 1, this.stride, 'valid');
    const p = this.padChannels / 2;
    return tf.pad(sub, [[0, 0], [0, 0], [0, 0], [p, p]]);
  }
}

export class CifarResNet extends ClassifierBase {
  private readonly conv1: Conv2d;
  private readonly bn1: BatchNorm;
  private readonly stages: Sequential[];

  constructor(config: ClassifierConfig, depth: number, seed: number) {
    const opts = resolveOptions(config.arch, config.options, cifarResNetOptions);
    const width = opts.width as number;
    super({ ...config, options: opts }, 4 * width);
    if ((depth - 2) % 6 !== 0) throw new UsageError(`CIFAR ResNet depth must be 6n+2, not ${depth}`);
    const n = (depth - 2) / 6;
    const rng = new Rng(seed);
    const inC = config.inputShape[2];
    this.conv1 = this.child('conv1', new Conv2d(inC, width, 3, rng, { padding: 1 }));
    this.bn1 = this.child('bn1', new BatchNorm(width));
    this.stages = [1, 2, 4].map((mult, s) => {
      const outC = width * mult;
      const blocks: Module[] = [];
      for (let i = 0; i < n; i++) {
        const stride = s > 0 && i === 0 ? 2 : 1;
        const blockIn = i === 0 ? (s === 0 ? width : outC / 2) : outC;
        blocks.push(new CifarBasicBlock(blockIn, outC, stride, opts.shortcut as string, opts.zeroInitResidual as boolean, rng));
      }
      return this.child(`layer${s + 1}`, new Sequential(blocks));
    });
    this.addHead('fc', rng);
  }

  protected trunk(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    let h = tf.relu(this.bn1.forward(this.conv1.forward(x), ctx)); // [B, H, W, w]
    for (const stage of this.stages) h = stage.forward(h, ctx); // → [B, H/4, W/4, 4w]
    return globalAvgPool(h); // [B, 4w]
  }
}

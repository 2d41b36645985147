// ImageNet-style residual networks (He et al. 2016) in torchvision's layout and parameter names:
// conv1 (7x7, stride 2, pad 3) · bn1 · maxpool (3x3, stride 2, pad 1) · layer1..layer4 of
// BasicBlocks (ResNet-18/34) or Bottlenecks (ResNet-50/101, "v1.5": the stride sits on the 3x3 conv)
// · global average pool · fc. Projection shortcuts are `downsample.0` (1x1 conv) / `downsample.1` (BN).
//
// Options for small images: `stem: 'cifar'` replaces the stem by a 3x3 stride-1 conv without the
// max-pool (as in most CIFAR ports of ResNet-18); `width` scales every stage (64 = torchvision);
// `zeroInitResidual` starts the last BN gamma of each block at 0 (torchvision's zero_init_residual,
// Goyal et al. 2017).
import * as tf from '@tensorflow/tfjs-core';
import { Module, Sequential, type ForwardContext } from '../nn/module.js';
import { BatchNorm, Conv2d } from '../nn/layers.js';
import { Rng } from '../util/rng.js';
import { ClassifierBase, globalAvgPool, resolveOptions, type ClassifierConfig, type OptionSpec } from './classifier.js';

export const resNetOptions: Record<string, OptionSpec> = {
  stem: { default: 'imagenet', choices: ['imagenet', 'cifar'], describe: "imagenet: 7x7/2 conv + 3x3/2 max-pool; cifar: 3x3/1 conv, no pool (for 28-64 px images)" },
  width: { default: 64, describe: 'channels of layer1 (doubled in each later stage); 64 as torchvision' },
  zeroInitResidual: { default: false, describe: 'start the last BN gamma of each block at 0 (torchvision zero_init_residual)' },
};

export type BlockKind = 'basic' | 'bottleneck';

function projection(inC: number, outC: number, stride: number, rng: Rng): Sequential {
  return new Sequential([new Conv2d(inC, outC, 1, rng, { stride, padding: 0 }), new BatchNorm(outC)]);
}

/** Two 3x3 convs; expansion 1. */
class BasicBlock extends Module {
  static readonly expansion = 1;
  private readonly conv1: Conv2d;
  private readonly bn1: BatchNorm;
  private readonly conv2: Conv2d;
  private readonly bn2: BatchNorm;
  private readonly downsample?: Sequential;

  constructor(inC: number, planes: number, stride: number, zeroInit: boolean, rng: Rng) {
    super();
    this.conv1 = this.child('conv1', new Conv2d(inC, planes, 3, rng, { stride, padding: 1 }));
    this.bn1 = this.child('bn1', new BatchNorm(planes));
    this.conv2 = this.child('conv2', new Conv2d(planes, planes, 3, rng, { padding: 1 }));
    this.bn2 = this.child('bn2', new BatchNorm(planes, { zeroInit }));
    if (stride !== 1 || inC !== planes) this.downsample = this.child('downsample', projection(inC, planes, stride, rng));
  }

  forward(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    const h = tf.relu(this.bn1.forward(this.conv1.forward(x), ctx));
    const y = this.bn2.forward(this.conv2.forward(h), ctx);
    return tf.relu(tf.add(y, this.downsample ? this.downsample.forward(x, ctx) : x));
  }
}

/** 1x1 reduce · 3x3 (strided) · 1x1 expand; expansion 4. */
class Bottleneck extends Module {
  static readonly expansion = 4;
  private readonly conv1: Conv2d;
  private readonly bn1: BatchNorm;
  private readonly conv2: Conv2d;
  private readonly bn2: BatchNorm;
  private readonly conv3: Conv2d;
  private readonly bn3: BatchNorm;
  private readonly downsample?: Sequential;

  constructor(inC: number, planes: number, stride: number, zeroInit: boolean, rng: Rng) {
    super();
    const outC = planes * Bottleneck.expansion;
    this.conv1 = this.child('conv1', new Conv2d(inC, planes, 1, rng, { padding: 0 }));
    this.bn1 = this.child('bn1', new BatchNorm(planes));
    this.conv2 = this.child('conv2', new Conv2d(planes, planes, 3, rng, { stride, padding: 1 }));
    this.bn2 = this.child('bn2', new BatchNorm(planes));
    this.conv3 = this.child('conv3', new Conv2d(planes, outC, 1, rng, { padding: 0 }));
    this.bn3 = this.child('bn3', new BatchNorm(outC, { zeroInit }));
    if (stride !== 1 || inC !== outC) this.downsample = this.child('downsample', projection(inC, outC, stride, rng));
  }

  forward(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    let h = tf.relu(this.bn1.forward(this.conv1.forward(x), ctx));
    h = tf.relu(this.bn2.forward(this.conv2.forward(h), ctx));
    const y = this.bn3.forward(this.conv3.forward(h), ctx);
    return tf.relu(tf.add(y, this.downsample ? this.downsample.forward(x, ctx) : x));
  }
}

export class ResNet extends ClassifierBase {
  private readonly conv1: Conv2d;
  private readonly bn1: BatchNorm;
  private readonly maxpool: boolean;
  private readonly stages: Sequential[];

  constructor(config: ClassifierConfig, block: BlockKind, layers: [number, number, number, number], seed: number) {
    const opts = resolveOptions(config.arch, config.options, resNetOptions);
    const width = opts.width as number;
    const Block = block === 'basic' ? BasicBlock : Bottleneck;
    super({ ...config, options: opts }, width * 8 * Block.expansion);
    const rng = new Rng(seed);
    const cifarStem = opts.stem === 'cifar';
    const inC = config.inputShape[2];
    this.conv1 = this.child('conv1', cifarStem ? new Conv2d(inC, width, 3, rng, { padding: 1 }) : new Conv2d(inC, width, 7, rng, { stride: 2, padding: 3 }));
    this.bn1 = this.child('bn1', new BatchNorm(width));
    this.maxpool = !cifarStem;
    let channels = width;
    this.stages = layers.map((count, s) => {
      const planes = width * 2 ** s;
      const blocks: Module[] = [];
      for (let i = 0; i < count; i++) {
        const stride = s > 0 && i === 0 ? 2 : 1;
        blocks.push(new Block(channels, planes, stride, opts.zeroInitResidual as boolean, rng));
        channels = planes * Block.expansion;
      }
      return this.child(`layer${s + 1}`, new Sequential(blocks));
    });
    this.addHead('fc', rng);
  }

  protected trunk(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    let h = tf.relu(this.bn1.forward(this.conv1.forward(x), ctx)); // [B, H/2, W/2, w] (imagenet stem)
    if (this.maxpool) h = tf.maxPool(h as tf.Tensor4D, 3, 2, 1, 'floor'); // [B, H/4, W/4, w]
    for (const stage of this.stages) h = stage.forward(h, ctx); // → [B, H/32, W/32, 8w·expansion]
    return globalAvgPool(h);
  }
}

// The one registry of classifier architectures: a new architecture is one file in this folder plus
// one entry here.
import { invalidParameterError, UsageError } from '../errors.js';
import type { Classifier, ClassifierConfig, OptionSpec } from './classifier.js';
import { CifarResNet, cifarResNetOptions } from './resnet_cifar.js';
import { ResNet, resNetOptions } from './resnet.js';
import { VisionTransformer, vitOptions } from './vit.js';

interface Architecture {
  description: string;
  options: Record<string, OptionSpec>;
  build(config: ClassifierConfig, seed: number): Classifier;
}

const ARCHITECTURES: Record<string, Architecture> = {
  resnet20: { description: 'CIFAR ResNet-20 (He et al. 2016 §4.2), 0.27M parameters', options: cifarResNetOptions, build: (c, s) => new CifarResNet(c, 20, s) },
  resnet32: { description: 'CIFAR ResNet-32, 0.46M parameters', options: cifarResNetOptions, build: (c, s) => new CifarResNet(c, 32, s) },
  resnet44: { description: 'CIFAR ResNet-44, 0.66M parameters', options: cifarResNetOptions, build: (c, s) => new CifarResNet(c, 44, s) },
  resnet56: { description: 'CIFAR ResNet-56, 0.85M parameters', options: cifarResNetOptions, build: (c, s) => new CifarResNet(c, 56, s) },
  resnet18: { description: 'ImageNet ResNet-18, torchvision layout (11.7M parameters at 1000 classes)', options: resNetOptions, build: (c, s) => new ResNet(c, 'basic', [2, 2, 2, 2], s) },
  resnet34: { description: 'ImageNet ResNet-34, torchvision layout (21.8M parameters at 1000 classes)', options: resNetOptions, build: (c, s) => new ResNet(c, 'basic', [3, 4, 6, 3], s) },
  resnet50: { description: 'ImageNet ResNet-50 v1.5, torchvision layout (25.6M parameters at 1000 classes)', options: resNetOptions, build: (c, s) => new ResNet(c, 'bottleneck', [3, 4, 6, 3], s) },
  vit: { description: 'small Vision Transformer (Dosovitskiy et al. 2021), timm layout; patch 4, dim 192, depth 6, heads 3 by default', options: vitOptions, build: (c, s) => new VisionTransformer(c, s) },
};

/** Builds an architecture with weights drawn from `seed`. Unknown names and bad shapes are usage errors. */
export function createClassifier(config: ClassifierConfig, seed: number): Classifier {
  const arch = ARCHITECTURES[config.arch];
  if (!arch) throw invalidParameterError('arch', `one of ${Object.keys(ARCHITECTURES).join('|')}`, config.arch);
  if (!Number.isInteger(config.numClasses) || config.numClasses < 1) throw new UsageError(`a classifier needs at least 1 class, not ${config.numClasses}`);
  const shape = config.inputShape;
  if (shape.length !== 3 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new UsageError(`input shape must be [H, W, C] positive integers, not [${shape}]`);
  }
  return arch.build(config, seed);
}

export function listArchitectures(): Array<{ name: string; description: string }> {
  return Object.entries(ARCHITECTURES).map(([name, a]) => ({ name, description: a.description }));
}

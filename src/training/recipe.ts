// The training recipe: every choice that determines the trained weights (with the data and the seed),
// saved in the checkpoint so that --resume continues the same run. Defaults that depend on the
// optimiser are resolved here, in one place.
import type { OptionValue } from '../models/classifier.js';
import type { OptimizerName } from './optim.js';
import type { PadMode } from './augment.js';

export interface Recipe {
  arch: string;
  archOptions: Record<string, OptionValue>;
  /** Passes over the data; exclusive with steps (steps wins when both are given). */
  epochs?: number;
  steps?: number;
  batchSize: number;
  optimizer: OptimizerName;
  lr: number;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
  /** Linear warmup, in optimisation steps. */
  warmupSteps: number;
  labelSmoothing: number;
  flip: boolean;
  cropPadding: number;
  padMode: PadMode;
  mixup: number;
  seed: number;
  shuffleBuffer: number;
}

/** What a user may leave as 'auto'. */
export interface RecipeInput extends Omit<Recipe, 'optimizer' | 'lr' | 'weightDecay' | 'warmupSteps' | 'cropPadding'> {
  optimizer: OptimizerName | 'auto';
  lr: number | 'auto';
  weightDecay: number | 'auto';
  warmup: number | 'auto';
  cropPadding: number | 'auto';
}

/**
 * Defaults by optimiser (for batch 128):
 *   sgd   (ResNets; He et al. 2016):   lr 0.1,  weight decay 5e-4 (L2),   warmup 0
 *   adamw (ViT; DeiT, Touvron 2021):   lr 1e-3, weight decay 0.05 (decoupled), warmup 5% of the steps
 * optimizer auto = adamw for the ViT architectures, sgd otherwise.
 * crop padding auto = round(min(H, W) / 8): 4 px for 28×28 and 32×32 images.
 */
export function resolveRecipe(input: RecipeInput, totalSteps: number, imageShape: [number, number, number]): Recipe {
  const optimizer = input.optimizer === 'auto' ? (input.arch.startsWith('vit') ? 'adamw' : 'sgd') : input.optimizer;
  const lr = input.lr === 'auto' ? (optimizer === 'sgd' ? 0.1 : 1e-3) : input.lr;
  const weightDecay = input.weightDecay === 'auto' ? (optimizer === 'sgd' ? 5e-4 : 0.05) : input.weightDecay;
  const warmupSteps = input.warmup === 'auto' ? (optimizer === 'sgd' ? 0 : Math.round(0.05 * totalSteps)) : input.warmup;
  const cropPadding = input.cropPadding === 'auto' ? Math.round(Math.min(imageShape[0], imageShape[1]) / 8) : input.cropPadding;
  const { warmup: _w, ...rest } = input;
  return { ...rest, optimizer, lr, weightDecay, warmupSteps, cropPadding };
}

// The one interface every classifier architecture implements, and a base class holding the shared
// shape: a feature trunk ending in global pooling ([B, H, W, C] → [B, D]) followed by a linear head.
import * as tf from '@tensorflow/tfjs-core';
import { Module, type ForwardContext } from '../nn/module.js';
import { Linear } from '../nn/layers.js';
import type { Rng } from '../util/rng.js';
import { UsageError } from '../errors.js';

export type OptionValue = number | string | boolean;

export interface ClassifierConfig {
  /** Registry name: resnet20, resnet18, vit, ... (see listArchitectures()). */
  arch: string;
  numClasses: number;
  /** [H, W, C] of the images the network takes. */
  inputShape: [number, number, number];
  /** Architecture-specific settings (ViT patch, depth, dim, heads; ResNet stem, width, shortcut...). */
  options?: Record<string, OptionValue>;
}

export interface Classifier extends Module {
  readonly config: ClassifierConfig;
  /** Width D of the penultimate features. */
  readonly featureDim: number;
  /** [B, H, W, C] → [B, D]: penultimate features (after global pooling, or the class token for ViT). */
  features(x: tf.Tensor, ctx: ForwardContext): tf.Tensor;
  /** [B, D] features → [B, numClasses] logits (the classification head alone). */
  logits(features: tf.Tensor): tf.Tensor;
  /** [B, H, W, C] → [B, numClasses] logits. */
  forward(x: tf.Tensor, ctx: ForwardContext): tf.Tensor;
}

/**
 * Base class: subclasses build their trunk and implement `trunk`; the head is a Linear layer
 * registered under `headName` (torchvision calls it `fc`, timm `head`). Every public forward runs in
 * tf.tidy so that intermediates never leak.
 */
export abstract class ClassifierBase extends Module implements Classifier {
  readonly config: ClassifierConfig;
  readonly featureDim: number;
  private headLayer!: Linear;

  protected constructor(config: ClassifierConfig, featureDim: number) {
    super();
    this.config = { ...config, inputShape: [...config.inputShape], options: { ...(config.options ?? {}) } };
    this.featureDim = featureDim;
  }

  /** Registers the classification head; call last in the subclass constructor so it comes last in the state dict. */
  protected addHead(name: string, rng: Rng, init?: (shape: number[]) => tf.Tensor): void {
    this.headLayer = this.child(name, new Linear(this.featureDim, this.config.numClasses, rng, init ? { init } : {}));
  }

  /** [B, H, W, C] → [B, D], without tidy (subclasses implement). */
  protected abstract trunk(x: tf.Tensor, ctx: ForwardContext): tf.Tensor;

  features(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    this.checkInput(x);
    return tf.tidy(() => this.trunk(x, ctx));
  }

  logits(features: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.headLayer.forward(features));
  }

  forward(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    this.checkInput(x);
    return tf.tidy(() => this.headLayer.forward(this.trunk(x, ctx)));
  }

  private checkInput(x: tf.Tensor): void {
    const [h, w, c] = this.config.inputShape;
    if (x.rank !== 4 || x.shape[3] !== c) {
      throw new Error(`${this.config.arch} expects [B, H, W, ${c}] input (built for ${h}x${w}x${c}) but received [${x.shape}]`);
    }
  }
}

/** Global average pooling: [B, H, W, C] → [B, C] (a plain mean, which every backend has). */
export function globalAvgPool(x: tf.Tensor): tf.Tensor {
  return tf.mean(x, [1, 2]);
}

/** One architecture option: its default, what it means, and (for strings) the allowed values. */
export interface OptionSpec {
  default: OptionValue;
  describe: string;
  choices?: readonly string[];
  /** For numbers: must be a positive integer (true by default), or any number > 0 (false). */
  integer?: boolean;
}

/**
 * Fills an architecture's options from its specs: unknown keys, wrong types and values outside
 * `choices` are usage errors. Numeric and boolean strings ("4", "true") are accepted, as a command
 * line gives them.
 */
export function resolveOptions(
  arch: string,
  given: Record<string, OptionValue> | undefined,
  specs: Record<string, OptionSpec>,
): Record<string, OptionValue> {
  const out: Record<string, OptionValue> = {};
  for (const key of Object.keys(given ?? {})) {
    if (!(key in specs)) {
      throw new UsageError(`unknown option ${JSON.stringify(key)} for architecture ${arch} (known: ${Object.keys(specs).join(', ') || 'none'})`);
    }
  }
  for (const [key, spec] of Object.entries(specs)) {
    const raw = given?.[key];
    if (raw === undefined) {
      out[key] = spec.default;
      continue;
    }
    const name = `${arch} option ${key}`;
    if (typeof spec.default === 'number') {
      const n = Number(raw);
      const integer = spec.integer ?? true;
      if (typeof raw === 'boolean' || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
        throw new UsageError(`Expected ${integer ? 'a positive integer' : 'a positive number'} for ${name} but received ${JSON.stringify(raw)}`);
      }
      out[key] = n;
    } else if (typeof spec.default === 'boolean') {
      if (raw === true || raw === 'true') out[key] = true;
      else if (raw === false || raw === 'false') out[key] = false;
      else throw new UsageError(`Expected true|false for ${name} but received ${JSON.stringify(raw)}`);
    } else {
      if (typeof raw !== 'string' || (spec.choices && !spec.choices.includes(raw))) {
        throw new UsageError(`Expected ${spec.choices ? `one of ${spec.choices.join('|')}` : 'a string'} for ${name} but received ${JSON.stringify(raw)}`);
      }
      out[key] = raw;
    }
  }
  return out;
}

// Generating labelled images with a Denoiser: which class each sample gets, where its noise comes from,
// and the batched loop that runs a sampler and quantises the result to uint8 pixels.
//
// Order: global sample index g = 0, 1, … gets class classes[g mod K] (a class-balanced interleave, so
// every prefix of the stream is balanced). Noise: sample g draws every random number it needs (its
// starting noise, then the fresh noise of each stochastic step, in step order) from its own generator
// seeded by (seed, g). A sample therefore does not depend on which other samples share its batch: the
// same seed gives the same images at any --batch-size, and workers taking g ≡ i (mod n) together make
// exactly the samples of one run.
import * as tf from '@tensorflow/tfjs-core';
import { fromSignedUnit } from '../images/tensor.js';
import { subSeed } from '../training/loop.js';
import { Rng } from '../util/rng.js';
import type { Denoiser } from './denoiser.js';
import { guidedDenoiser } from './guidance.js';
import { samplers } from './samplers.js';
import { karrasSigmas } from './sigmas.js';

/**
 * Images per network call at most (src/diffusion/guidance.ts splits larger ones). A U-Net forward pass holds
 * all its activations until it returns: for the 28×28 fmnist U-Net a call of 512 images outgrew WASM's 4 GB
 * heap, while 128 needs about 1 GB.
 */
export const NETWORK_BATCH = 128;

export interface GenerateOptions {
  sampler: string;
  steps: number;
  /** Classifier-free guidance weight w (1: conditional, 0: unconditional). */
  guidance: number;
  seed: number;
  batchSize: number;
  /** Images per network call at most (default NETWORK_BATCH); does not change the images. */
  networkBatch?: number;
  /** Called after every sampler step of a batch (progress). */
  onStep?: (step: number, steps: number) => void;
}

export interface GeneratedImage {
  /** Global sample index g. */
  index: number;
  label: number;
  /** HWC uint8 pixels. */
  pixels: Uint8Array;
}

/** The class of global sample index g when sampling `classes` in turn. */
export function classOfIndex(classes: readonly number[], index: number): number {
  return classes[index % classes.length];
}

/** The random stream of sample g: its starting noise, then the noise of every stochastic step. */
export function sampleRng(seed: number, index: number): Rng {
  return new Rng(subSeed(seed, 'sample', index));
}

/**
 * A noise source for a batch: each call returns [B, H, W, C] standard normal noise, image b drawn from
 * rngs[b] (so each image's draws follow its own stream whatever the batch).
 */
export function batchNoise(rngs: readonly Rng[], imageShape: readonly [number, number, number]): () => tf.Tensor4D {
  const size = imageShape[0] * imageShape[1] * imageShape[2];
  return () => {
    const out = new Float32Array(rngs.length * size);
    rngs.forEach((rng, b) => {
      for (let i = 0; i < size; i++) out[b * size + i] = rng.normal();
    });
    return tf.tensor4d(out, [rngs.length, ...imageShape]);
  };
}

/** Runs the sampler on one batch of global indices with the given labels; returns x at σ = 0 in [−1, 1]-ish floats. */
export function sampleBatch(denoiser: Denoiser, indices: readonly number[], labels: Int32Array, o: GenerateOptions): Float32Array {
  const entry = samplers[o.sampler];
  if (!entry) throw new RangeError(`unknown sampler ${JSON.stringify(o.sampler)}`);
  const sigmas = karrasSigmas(o.steps, denoiser.sigmaMin, denoiser.sigmaMax);
  const noise = batchNoise(
    indices.map((g) => sampleRng(o.seed, g)),
    denoiser.imageShape,
  );
  const x = tf.tidy(() => tf.mul(noise(), sigmas[0]) as tf.Tensor4D); // [B, H, W, C] at σ_max
  try {
    const out = entry.run(guidedDenoiser(denoiser, labels, o.guidance, o.networkBatch ?? NETWORK_BATCH), x, sigmas, {
      noise,
      callback: o.onStep && ((info) => o.onStep!(info.step + 1, o.steps)),
    });
    const data = out.dataSync() as Float32Array;
    out.dispose();
    return data;
  } finally {
    x.dispose();
  }
}

/**
 * The images of the given global indices (in the order given), batchSize at a time; sample g is of class
 * classOf(g). Yields between batches so that output is written as it is made.
 */
export async function* generateImages(
  denoiser: Denoiser,
  indices: readonly number[],
  classOf: (index: number) => number,
  o: GenerateOptions,
): AsyncGenerator<GeneratedImage> {
  const [h, w, c] = denoiser.imageShape;
  const size = h * w * c;
  for (let start = 0; start < indices.length; start += o.batchSize) {
    const batch = indices.slice(start, start + o.batchSize);
    const labels = Int32Array.from(batch, classOf);
    const data = sampleBatch(denoiser, batch, labels, o);
    for (let b = 0; b < batch.length; b++) {
      yield { index: batch[b], label: labels[b], pixels: fromSignedUnit(data.subarray(b * size, (b + 1) * size)) };
    }
  }
}

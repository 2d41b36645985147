// Parameter initialisers drawing from the seeded Rng, so that a model built with the same seed has the
// same weights on every backend (tf.random* would depend on the backend's generator).
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../util/rng.js';

function fill(shape: number[], draw: () => number): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = draw();
  return tf.tensor(values, shape, 'float32');
}

/** N(0, std²). */
export function normal(shape: number[], std: number, rng: Rng): tf.Tensor {
  return fill(shape, () => rng.normal() * std);
}

/** N(0, std²) truncated at ±2 std (as timm's trunc_normal_ for ViT weights). */
export function truncatedNormal(shape: number[], std: number, rng: Rng): tf.Tensor {
  return fill(shape, () => {
    for (;;) {
      const z = rng.normal();
      if (Math.abs(z) <= 2) return z * std;
    }
  });
}

/** U(-bound, bound). */
export function uniform(shape: number[], bound: number, rng: Rng): tf.Tensor {
  return fill(shape, () => (rng.random() * 2 - 1) * bound);
}

/** Kaiming/He normal for ReLU nets (He et al. 2015): std = sqrt(2 / fan). */
export function kaimingNormal(shape: number[], fan: number, rng: Rng): tf.Tensor {
  return normal(shape, Math.sqrt(2 / fan), rng);
}

// Normalisation layers against autodiff of their plain formulas (tf.moments and broadcasting), on
// whatever backend is active: the cpu tests check the tfjs-ops path, the wasm tests the SIMD kernels.
import * as tf from '@tensorflow/tfjs-core';
import type { ForwardContext } from '../../src/nn/module.js';
import { Rng } from '../../src/util/rng.js';
import { assertClose } from './close.js';

export type PlainNorm = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor;

export const plainBatchNorm: PlainNorm = (x, w, b) => {
  const { mean, variance } = tf.moments(x, x.shape.slice(0, -1).map((_, i) => i));
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), w), b);
};

export const plainLayerNorm: PlainNorm = (x, w, b) => {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-6))), w), b);
};

export function plainGroupNorm(G: number): PlainNorm {
  return (x, w, b) => {
    const [B, H, W, C] = x.shape;
    const g = tf.reshape(x, [B, H, W, G, C / G]);
    const { mean, variance } = tf.moments(g, [1, 2, 4], true);
    const xhat = tf.reshape(tf.div(tf.sub(g, mean), tf.sqrt(tf.add(variance, 1e-5))), [B, H, W, C]);
    return tf.add(tf.mul(xhat, w), b);
  };
}

/** Gradients of sum(r ⊙ norm(x)) w.r.t. x, weight and bias: the layer's custom backward vs autodiff of plain ops. */
/** A normalisation layer: BatchNorm, GroupNorm or LayerNorm. */
export interface NormLayer {
  weight: tf.Variable;
  bias: tf.Variable;
  forward(x: tf.Tensor, ctx: ForwardContext): tf.Tensor;
}

export function checkNormGradients(layer: NormLayer, plain: PlainNorm, shape: number[], seed: number): void {
  const rng = new Rng(seed);
  const c = shape[shape.length - 1];
  const x = tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => rng.normal() * 2 + 0.5), shape);
  const r = tf.tensor(Float32Array.from({ length: x.size }, () => rng.normal()), shape);
  layer.weight.assign(tf.tensor1d(Float32Array.from({ length: c }, () => 1 + rng.normal() * 0.3)));
  layer.bias.assign(tf.tensor1d(Float32Array.from({ length: c }, () => rng.normal() * 0.3)));
  const loss = (y: tf.Tensor) => tf.sum(tf.mul(y, r)) as tf.Scalar;
  assertClose(layer.forward(x, { training: true }).dataSync(), plain(x, layer.weight, layer.bias).dataSync(), 1e-4);
  const dx = tf.grad((xx: tf.Tensor) => loss(layer.forward(xx, { training: true })))(x);
  const { grads } = tf.variableGrads(() => loss(layer.forward(x, { training: true })), [layer.weight, layer.bias]);
  const ref = tf.grads((xx: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => loss(plain(xx, w, b)))([x, tf.clone(layer.weight), tf.clone(layer.bias)]);
  assertClose(dx.dataSync(), ref[0].dataSync(), 1e-4);
  assertClose(grads[layer.weight.name].dataSync(), ref[1].dataSync(), 1e-4);
  assertClose(grads[layer.bias.name].dataSync(), ref[2].dataSync(), 1e-4);
}


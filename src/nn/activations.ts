// Activations with a fused kernel where the backend has one. SiLU, x·σ(x), is the U-Net's activation: as
// tfjs ops it costs a sigmoid and a multiply forward and five element-wise passes backward; the native
// backend does each direction in one pass (SynthaugSilu, SynthaugSiluGrad in src/backend/native/). Elsewhere
// the same function comes from tfjs ops and their automatic gradient.
import * as tf from '@tensorflow/tfjs-core';
import { hasFusedKernel } from '../backend/kernel-set.js';

function fusedSiluForward(x: tf.Tensor, save: tf.GradSaveFunc) {
  save([x]);
  return {
    value: tf.engine().runKernel('SynthaugSilu', { x }, {}) as tf.Tensor,
    gradFunc: (dy: tf.Tensor, [saved]: tf.Tensor[]) => tf.engine().runKernel('SynthaugSiluGrad', { x: saved, dy }, {}) as tf.Tensor,
  };
}
const fusedSilu = tf.customGrad(fusedSiluForward as unknown as Parameters<typeof tf.customGrad>[0]);

/** SiLU (swish): x·σ(x). */
export function silu(x: tf.Tensor): tf.Tensor {
  if (hasFusedKernel('SynthaugSilu', x) && hasFusedKernel('SynthaugSiluGrad', x)) return fusedSilu(x);
  return tf.mul(x, tf.sigmoid(x));
}

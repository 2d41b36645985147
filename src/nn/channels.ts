// Per-channel sums and affine maps of channels-last tensors: the arithmetic of normalisation layers.
// On WASM each is one SIMD pass (src/backend/wasm/channels.ts); elsewhere, or when the channel count is
// not a multiple of 4, the same values come from plain tfjs ops. Not differentiable: they are meant for
// the forward and backward halves of a tf.customGrad.
//
// Statistics are over every axis but the last ([C]), or with perImage over every axis but the first and
// the last ([N, C]); m and the affine coefficients come in the matching shape.
import * as tf from '@tensorflow/tfjs-core';
import { hasFusedKernel } from '../backend/kernel-set.js';

function fusedKernel(name: string, x: tf.Tensor): boolean {
  return x.shape[x.rank - 1] % 4 === 0 && hasFusedKernel(name, x);
}

function reducedAxes(x: tf.Tensor, perImage: boolean): number[] {
  return x.shape.slice(0, -1).map((_, i) => i).slice(perImage ? 1 : 0);
}

/** A [C] or [N, C] tensor shaped to broadcast against x [N, ..., C]. */
function broadcastable(t: tf.Tensor, x: tf.Tensor): tf.Tensor {
  return t.rank === 1 ? t : tf.reshape(t, [t.shape[0], ...x.shape.slice(1, -1).map(() => 1), t.shape[1] as number]);
}

/** The [C] or [N, C] zeros that a sum over no rows is (tfjs-backend-wasm 4.22's Sum returns garbage there). */
function emptySum(u: tf.Tensor, perImage: boolean): tf.Tensor {
  const C = u.shape[u.rank - 1];
  return tf.zeros(perImage ? [u.shape[0], C] : [C]);
}

/** Σ u. */
export function channelSum(u: tf.Tensor, perImage = false): tf.Tensor {
  if (fusedKernel('SynthaugChannelSum', u)) return tf.engine().runKernel('SynthaugChannelSum', { u }, { perImage }) as tf.Tensor;
  if (u.size === 0) return emptySum(u, perImage);
  return tf.sum(u, reducedAxes(u, perImage));
}

/** [Σ u, Σ u·(v − m)], for u and v of one shape. */
export function channelDot(u: tf.Tensor, v: tf.Tensor, m: tf.Tensor, perImage = false): [tf.Tensor, tf.Tensor] {
  if (fusedKernel('SynthaugChannelDot', u)) {
    return tf.engine().runKernel('SynthaugChannelDot', { u, v, m }, { perImage }) as [tf.Tensor, tf.Tensor];
  }
  if (u.size === 0) return [emptySum(u, perImage), emptySum(u, perImage)];
  return tf.tidy(() => {
    const axes = reducedAxes(u, perImage);
    return [tf.sum(u, axes), tf.sum(tf.mul(u, tf.sub(v, broadcastable(m, u))), axes)] as [tf.Tensor, tf.Tensor];
  });
}

/** u·a + d, or u·a + v·b + d when v and b are given. */
export function channelAffine(u: tf.Tensor, a: tf.Tensor, d: tf.Tensor, v?: tf.Tensor, b?: tf.Tensor): tf.Tensor {
  if (fusedKernel('SynthaugChannelAffine', u)) {
    const inputs: tf.NamedTensorMap = v && b ? { u, a, d, v, b } : { u, a, d };
    return tf.engine().runKernel('SynthaugChannelAffine', inputs, {}) as tf.Tensor;
  }
  return tf.tidy(() => {
    const ua = tf.add(tf.mul(u, broadcastable(a, u)), broadcastable(d, u));
    return v && b ? tf.add(ua, tf.mul(v, broadcastable(b, u))) : ua;
  });
}

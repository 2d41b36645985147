// Gradient functions tfjs 4.22 does not define for ops synthaug's models use. Backend-agnostic (plain
// tf ops), registered once by initBackend.
import * as tf from '@tensorflow/tfjs-core';

/**
 * dx for y = stridedSlice(x, begin, end, strides, masks) with positive strides and no new axes: dy's
 * elements go back to positions begin + k·stride of each axis, zeros elsewhere (TensorFlow's
 * StridedSliceGrad). Used by the CIFAR ResNet's option-A shortcut (x[:, ::2, ::2, :]).
 */
export function stridedSliceGrad(dy: tf.Tensor, xShape: number[], attrs: tf.StridedSliceAttrs): tf.Tensor {
  if (attrs.newAxisMask !== 0) throw new Error('the StridedSlice gradient does not support newAxisMask');
  const info = tf.slice_util.sliceInfo(xShape, attrs.begin, attrs.end, attrs.strides, attrs.beginMask, attrs.endMask,
    attrs.ellipsisMask, attrs.newAxisMask, attrs.shrinkAxisMask);
  if (info.begin.length !== xShape.length || info.strides.some((s) => s <= 0)) {
    throw new Error(`the StridedSlice gradient supports positive strides only, got [${info.strides}]`);
  }
  const counts = info.begin.map((b, d) => Math.max(0, Math.ceil((info.end[d] - b) / info.strides[d])));
  return tf.tidy(() => {
    let t = tf.reshape(dy, counts); // undo the shrink axes
    for (let d = 0; d < xShape.length; d++) {
      const s = info.strides[d];
      const n = counts[d];
      if (s > 1 && n > 0) {
        // [..., n, ...] → [..., n, s, ...] with zeros in the new slots → [..., n·s, ...]
        const pre = t.shape.slice(0, d + 1);
        const post = t.shape.slice(d + 1);
        const pads = t.shape.map((): [number, number] => [0, 0]);
        pads.splice(d + 1, 0, [0, s - 1]);
        t = tf.reshape(tf.pad(tf.reshape(t, [...pre, 1, ...post]), pads), [...pre.slice(0, -1), n * s, ...post]);
      }
      const len = t.shape[d];
      const after = xShape[d] - info.begin[d] - len; // negative: the zero tail runs past the end
      if (after < 0) t = tf.slice(t, t.shape.map(() => 0), t.shape.map((v, i) => (i === d ? len + after : v)));
      const pads = t.shape.map((_, i): [number, number] => (i === d ? [info.begin[d], Math.max(0, after)] : [0, 0]));
      if (info.begin[d] > 0 || after > 0) t = tf.pad(t, pads);
    }
    return t;
  });
}

let registered = false;

/** Register the gradients above, unless tfjs (a later version) already has them. Idempotent. */
export function registerGradients(): void {
  if (registered) return;
  registered = true;
  if (tf.getGradient('StridedSlice') === undefined) {
    tf.registerGradient({
      kernelName: 'StridedSlice',
      inputsToSave: ['x'],
      gradFunc: (dy, saved, attrs) => {
        const [x] = saved;
        return { x: () => stridedSliceGrad(dy as tf.Tensor, x.shape, attrs as unknown as tf.StridedSliceAttrs) };
      },
    });
  }
}

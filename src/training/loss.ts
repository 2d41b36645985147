// Cross-entropy against soft targets: with one-hot targets it is the usual loss; with label-smoothed
// targets (1−ε)·onehot + ε/K it is the label smoothing loss of Szegedy et al. 2016 (as
// torch.nn.CrossEntropyLoss(label_smoothing=ε)); with mixup targets it is the mixup loss.
import * as tf from '@tensorflow/tfjs-core';

/** mean_b −Σ_k targets[b,k] · log softmax(logits[b])_k.  logits, targets: [B, K] → scalar. */
export function softCrossEntropy(logits: tf.Tensor, targets: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), -1))) as tf.Scalar);
}

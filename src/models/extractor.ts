// One interface for every feature extractor: a classifier directory here, the FID Inception-v3
// network elsewhere. Metric code sees only this.
import * as tf from '@tensorflow/tfjs-core';
import { InputError } from '../errors.js';
import { loadClassifier } from './store.js';
import { toTensorInput } from '../images/tensor.js';

export interface FeatureExtractor {
  readonly name: string;
  /** What images are resized to before `extract`, [H, W, C] (H and W are 0 when `anySize`). */
  readonly inputShape: [number, number, number];
  /** The extractor resizes by itself: images are decoded at their own size, and one `extract` call gets one size. */
  readonly anySize?: boolean;
  readonly featureDim: number;
  readonly numClasses: number;
  /**
   * uint8 HWC images, already decoded to inputShape (or, with `anySize`, of size [H, W] = `size`), [B*H*W*C] →
   * features [B, D] and logits [B, K], row-major.
   */
  extract(images: Uint8Array, batch: number, size?: [number, number]): Promise<{ features: Float32Array; logits: Float32Array }>;
  dispose(): void;
}

/** A classifier directory as a feature extractor: penultimate features and logits, eval mode. */
export async function classifierExtractor(dir: string): Promise<FeatureExtractor> {
  const { model, config } = await loadClassifier(dir);
  const [h, w, c] = config.inputShape;
  return {
    name: `classifier:${config.arch}:${dir}`,
    inputShape: [h, w, c],
    featureDim: model.featureDim,
    numClasses: config.numClasses,
    async extract(images: Uint8Array, batch: number) {
      if (!Number.isInteger(batch) || batch < 1 || images.length !== batch * h * w * c) {
        throw new InputError(`${dir}: expected ${batch} images of ${h}x${w}x${c} (${batch * h * w * c} bytes) but received ${images.length} bytes`);
      }
      const x = tf.tensor4d(toTensorInput(images, c, config.normalization), [batch, h, w, c]);
      const features = model.features(x, { training: false }); // [B, D]
      const logits = model.logits(features); // [B, K]
      x.dispose();
      try {
        return { features: (await features.data()) as Float32Array, logits: (await logits.data()) as Float32Array };
      } finally {
        features.dispose();
        logits.dispose();
      }
    },
    dispose() {
      model.dispose();
    },
  };
}

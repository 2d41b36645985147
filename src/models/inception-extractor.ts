// The FID Inception-v3 as a FeatureExtractor: weights from a file the user names, one of three input paths.
//
// Weights: pytorch-fid's pt_inception-2015-12-05-6726825d.pth (a torch.save state dict, read by the safe reader
// in src/nn/torch-checkpoint.ts) or its conversion to safetensors (`synthaug convert-weights`), named by
// --inception-weights or the environment variable SYNTHAUG_INCEPTION_WEIGHTS. Nothing is downloaded.
//
// Input paths (--resize), from decoded uint8 RGB pixels v of any size (gray images are repeated to 3 channels
// when decoded) to the network's [B, 299, 299, 3] input:
//   pytorch-fid  x = v/255, bilinear resize with half-pixel centres (F.interpolate(align_corners=False), no
//                antialias), then 2x − 1                                      (pytorch-fid, torch-fidelity)
//   tf           x = (v − 128)/128, then TF1's resize_bilinear (align_corners=False, no half-pixel centres:
//                source = dest·in/out)                                         (the original TensorFlow FID code)
//   clean        Pillow's antialiased bicubic on the float values 0..255 (per channel, mode 'F'), clipped to
//                [0, 255], then (x − 128)/128                                 (clean-fid's "clean" mode)
// Outputs: the 2048-d pool features, and as logits the 1008-way fc output WITHOUT its bias (torch-fidelity's
// `logits_unbiased`, which its Inception Score uses).
import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { InputError, readInputFile } from '../errors.js';
import { decodeSafetensors } from '../nn/safetensors.js';
import { decodeTorchCheckpoint } from '../nn/torch-checkpoint.js';
import type { NamedTensor } from '../nn/safetensors.js';
import { toTensorInput, UNIT_RANGE, type Normalization } from '../images/tensor.js';
import { resizeBicubicAntialias } from '../images/resample.js';
import type { FeatureExtractor } from './extractor.js';
import { FIDInceptionV3, INCEPTION_CLASSES, INCEPTION_FEATURES, INCEPTION_SIZE } from './inception.js';
import { importTorchState } from './torch.js';

export const INCEPTION_WEIGHTS_FILE = 'pt_inception-2015-12-05-6726825d.pth';
export const INCEPTION_WEIGHTS_URL = `https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/${INCEPTION_WEIGHTS_FILE}`;
export const INCEPTION_WEIGHTS_ENV = 'SYNTHAUG_INCEPTION_WEIGHTS';

export const RESIZE_MODES = ['pytorch-fid', 'tf', 'clean'] as const;
export type ResizeMode = (typeof RESIZE_MODES)[number];

/** (v − 128)/128 as a torchvision-style normalisation of v/255. */
const TF_RANGE: Normalization = { mean: [128 / 255], std: [128 / 255] };

/** The weights file: the option, else the environment variable; a missing one is an InputError saying what to get. */
export function inceptionWeightsPath(option: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const path = option ?? (env[INCEPTION_WEIGHTS_ENV] || undefined);
  const how =
    `The Inception features need the FID Inception-v3 weights ${INCEPTION_WEIGHTS_FILE} (95 MB), published by pytorch-fid at ` +
    `${INCEPTION_WEIGHTS_URL}. Download it once and pass --inception-weights FILE or set ${INCEPTION_WEIGHTS_ENV}=FILE ` +
    '(or use --features CLASSIFIER_DIR).';
  if (path === undefined) throw new InputError(`no Inception weights given. ${how}`);
  if (!existsSync(path)) throw new InputError(`Inception weights file ${path} does not exist. ${how}`);
  return path;
}

/** Tensors of a .pth checkpoint or a .safetensors file (told apart by content, not by name). */
export async function readWeightTensors(path: string): Promise<Map<string, NamedTensor>> {
  const buf = await readInputFile(path, 'weights file');
  const looksSafetensors = buf.length > 9 && buf[8] === 0x7b && buf.readBigUInt64LE(0) < BigInt(buf.length);
  return looksSafetensors ? decodeSafetensors(buf, path).tensors : decodeTorchCheckpoint(buf, path);
}

/** The network with the weights of `path` loaded (names and shapes checked). */
export async function loadInception(path: string): Promise<FIDInceptionV3> {
  const tensors = await readWeightTensors(path);
  const net = new FIDInceptionV3();
  try {
    importTorchState(net, tensors, path);
  } catch (err) {
    net.dispose();
    throw err;
  }
  return net;
}

/** uint8 [B, H, W, 3] → the network's input [B, 299, 299, 3] by `mode` (see the header). */
export function prepareInceptionInput(images: Uint8Array, batch: number, height: number, width: number, mode: ResizeMode): tf.Tensor4D {
  const S = INCEPTION_SIZE;
  const same = height === S && width === S;
  if (mode === 'clean') {
    const per = height * width * 3;
    const out = new Float32Array(batch * S * S * 3);
    for (let b = 0; b < batch; b++) {
      const x = resizeBicubicAntialias(images.subarray(b * per, (b + 1) * per), height, width, 3, S, S);
      for (let i = 0; i < x.length; i++) out[b * S * S * 3 + i] = (Math.min(255, Math.max(0, x[i])) - 128) / 128;
    }
    return tf.tensor4d(out, [batch, S, S, 3]);
  }
  return tf.tidy(() => {
    if (mode === 'tf') {
      const x = tf.tensor4d(toTensorInput(images, 3, TF_RANGE), [batch, height, width, 3]);
      return same ? x : tf.image.resizeBilinear(x, [S, S], false, false);
    }
    const x = tf.tensor4d(toTensorInput(images, 3, UNIT_RANGE), [batch, height, width, 3]);
    const r = same ? x : tf.image.resizeBilinear(x, [S, S], false, true);
    return tf.sub(tf.mul(r, 2), 1) as tf.Tensor4D;
  });
}

/** The FID Inception-v3 network behind the FeatureExtractor interface (images of any size, RGB). */
export function inceptionExtractor(net: FIDInceptionV3, mode: ResizeMode, name = 'inception'): FeatureExtractor {
  return {
    name: `${name}:${mode}`,
    inputShape: [0, 0, 3],
    anySize: true,
    featureDim: INCEPTION_FEATURES,
    numClasses: INCEPTION_CLASSES,
    async extract(images: Uint8Array, batch: number, size?: [number, number]) {
      const [h, w] = size ?? [INCEPTION_SIZE, INCEPTION_SIZE];
      if (images.length !== batch * h * w * 3) throw new InputError(`Inception: expected ${batch} images of ${h}x${w}x3 but received ${images.length} bytes`);
      const x = prepareInceptionInput(images, batch, h, w, mode);
      const pool = net.features(x); // [B, 2048]
      x.dispose();
      const logits = tf.matMul(pool, net.fc.weight as tf.Tensor2D); // [B, 1008], no bias
      try {
        return { features: (await pool.data()) as Float32Array, logits: (await logits.data()) as Float32Array };
      } finally {
        pool.dispose();
        logits.dispose();
      }
    },
    dispose() {
      net.dispose();
    },
  };
}

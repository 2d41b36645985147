// The --features choice of the metric commands: `inception` (the FID Inception-v3 with weights from a file) or a
// classifier directory (its penultimate features and logits). Both are FeatureExtractors; metric code sees only that.
import type { Argv } from 'yargs';
import { classifierExtractor, type FeatureExtractor } from '../models/extractor.js';
import { INCEPTION_WEIGHTS_ENV, RESIZE_MODES, inceptionExtractor, inceptionWeightsPath, loadInception, type ResizeMode } from '../models/inception-extractor.js';
import { oneOf } from '../options.js';

export interface FeatureArgs {
  features: string;
  'inception-weights'?: string;
  resize: string;
  'batch-size': number;
}

export function featureArgs<T>(y: Argv<T>): Argv<T & FeatureArgs> {
  return y
    .option('features', { type: 'string', default: 'inception', describe: "Feature extractor: 'inception' (the FID Inception-v3) or a classifier directory (penultimate features, logits)" })
    .option('inception-weights', { type: 'string', describe: `pt_inception-2015-12-05-6726825d.pth (pytorch-fid's) or its safetensors conversion (env ${INCEPTION_WEIGHTS_ENV})` })
    .option('resize', {
      type: 'string',
      default: 'pytorch-fid',
      describe: 'Inception input path: pytorch-fid (bilinear, 2x−1), tf (TF1 bilinear, (x−128)/128), clean (antialiased bicubic as clean-fid)',
    })
    .option('batch-size', { type: 'number', default: 50, describe: 'Images per forward pass' }) as unknown as Argv<T & FeatureArgs>;
}

/** Opens the extractor on first call (two .npz sides need no weights); `close` disposes it if it was opened. */
export interface LazyExtractor {
  (): Promise<FeatureExtractor>;
  close(): Promise<void>;
}

export function extractorFrom(args: FeatureArgs): LazyExtractor {
  const mode = oneOf('resize', RESIZE_MODES, args.resize) as ResizeMode;
  let opened: Promise<FeatureExtractor> | undefined;
  const get = () => {
    opened ??= (async () => {
      if (args.features === 'inception') return inceptionExtractor(await loadInception(inceptionWeightsPath(args['inception-weights'])), mode);
      return classifierExtractor(args.features);
    })();
    return opened;
  };
  return Object.assign(get, { close: async () => (opened ? (await opened).dispose() : undefined) });
}

// The registry of built-in datasets for `synthaug pack --dataset`: a new dataset is one module plus one entry here.
import type { Sample } from '../shards/sample.js';
import { FASHION_MNIST, FASHION_MNIST_SPLITS, fashionMnistCount, fashionMnistSamples, type FashionMnistSplit } from './fashion-mnist.js';

export interface DatasetOptions {
  split: string;
  /** A seeded subset of this many images per class (all of the split when absent). */
  perClass?: number;
  seed?: number;
  /** Labels to include (default all). */
  classes?: number[];
}

export interface Dataset {
  name: string;
  splits: readonly string[];
  /** Class names in label order (filename-safe). */
  classes: readonly string[];
  /** Number of samples the options select. */
  count(opts: DatasetOptions): number;
  /** Labelled samples: an image field, `cls`, and `json` with class, `source: "real"` and provenance. */
  samples(opts: DatasetOptions): AsyncIterable<Sample>;
}

export const datasets: Record<string, Dataset> = {
  'fashion-mnist': {
    name: FASHION_MNIST.name,
    splits: FASHION_MNIST_SPLITS,
    classes: FASHION_MNIST.classes,
    count: (o) => fashionMnistCount({ ...o, split: o.split as FashionMnistSplit }),
    samples: (o) => fashionMnistSamples({ ...o, split: o.split as FashionMnistSplit }),
  },
};

export const DATASET_NAMES = Object.keys(datasets);

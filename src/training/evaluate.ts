// Evaluate-only: an existing classifier directory on labelled samples. The data's class names are
// checked against the classifier's (config.json classNames); images are decoded to its input shape.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadClassifier } from '../models/store.js';
import type { ResizePolicy } from '../images/codec.js';
import { BadInputs } from '../shards/bad.js';
import { finalizeMetrics, type ClassificationMetrics } from '../metrics/classification.js';
import type { SampleSource } from './data.js';
import { LabelSet } from './labels.js';
import { evaluate } from './trainer.js';

export interface EvaluateDirOptions {
  resize?: ResizePolicy;
  skipBad?: boolean;
  /** Labels must lie below this (--max-classes; default sampleLabel's). */
  maxClasses?: number;
  /** Images declaring more pixels are bad samples (--max-pixels; default the codec's). */
  maxPixels?: number;
  batchSize?: number;
  /** Also write metrics.json here. */
  outDir?: string;
}

export async function evaluateClassifierDir(dir: string, source: SampleSource, o: EvaluateDirOptions = {}): Promise<ClassificationMetrics> {
  const { model, config } = await loadClassifier(dir);
  try {
    const labels = LabelSet.fromNames(config.classNames, `classifier ${dir}`, o.maxClasses);
    const [height, width, channels] = config.inputShape;
    const bad = new BadInputs({ skipBad: o.skipBad }, 'sample');
    const counts = await evaluate(model, source, {
      spec: { height, width, channels: channels as 1 | 3, resize: o.resize ?? 'none', maxPixels: o.maxPixels },
      labels,
      bad,
      normalization: config.normalization,
      batchSize: o.batchSize ?? 256,
    });
    bad.summary();
    const metrics = finalizeMetrics(counts, labels.displayNames());
    if (o.outDir) {
      await mkdir(o.outDir, { recursive: true });
      await writeFile(join(o.outDir, 'metrics.json'), `${JSON.stringify(metrics, null, 2)}\n`);
    }
    return metrics;
  } finally {
    model.dispose();
  }
}

// Classification Accuracy Score (Ravuri & Vinyals 2019, "Classification Accuracy Score for
// Conditional Generative Models"): train a classifier only on generated images, test it on real
// ones. With real training data, the same recipe trained on real images gives the baseline, side by
// side, and the ratio CAS / real. One label set spans all three sources, so a generated class whose
// name or index disagrees with the real data is an error, never a silent relabelling.
//   <out>/generated/   the classifier trained on generated data (a train-classifier output directory)
//   <out>/real/        the real-data baseline (with --real-train)
//   <out>/cas.json     the result printed with --json
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClassificationMetrics } from '../metrics/classification.js';
import { hasCheckpoint } from './checkpoint.js';
import type { SampleSource } from './data.js';
import { LabelSet } from './labels.js';
import { train, type TrainOptions } from './trainer.js';
import { warn } from '../log.js';

export interface CasOptions extends Omit<TrainOptions, 'source' | 'val' | 'outDir' | 'labels'> {
  generated: SampleSource;
  test: SampleSource;
  realTrain?: SampleSource;
  outDir: string;
}

export interface CasResult {
  /** Trained on generated images, tested on real ones. */
  cas: ClassificationMetrics;
  /** Trained on real images with the same recipe, tested on the same real images. */
  real?: ClassificationMetrics;
  /** CAS / real for top-1, top-5 and the mean per-class accuracy. */
  ratio?: { top1: number; top5: number; meanPerClassAccuracy: number };
  trainImages: { generated?: number; real?: number };
  steps: { generated: number; real?: number };
}

export async function classificationAccuracyScore(o: CasOptions): Promise<CasResult> {
  const { generated, test, realTrain, outDir, resume, ...common } = o;
  const labels = new LabelSet('the generated training data', o.maxClasses);
  const run = async (source: SampleSource, name: string, shape?: [number, number, number]) => {
    const dir = join(outDir, name);
    if (common.progress !== 'none') warn(`cas: training on the ${name} data → ${dir}`);
    const r = await train({
      ...common,
      ...(shape ? { height: shape[0], width: shape[1], channels: shape[2] as 1 | 3 } : {}),
      source,
      val: test,
      outDir: dir,
      labels,
      resume: Boolean(resume) && hasCheckpoint(dir),
      provenance: { ...(common.provenance ?? {}), cas: name },
    });
    r.model.dispose();
    if (!r.metrics) throw new Error('cas: the evaluation on the test data gave no metrics');
    return r;
  };
  const gen = await run(generated, 'generated');
  const result: CasResult = { cas: gen.metrics!, trainImages: { generated: gen.trainImages }, steps: { generated: gen.steps } };
  if (realTrain) {
    const real = await run(realTrain, 'real', gen.imageShape);
    result.real = real.metrics!;
    result.trainImages.real = real.trainImages;
    result.steps.real = real.steps;
    const ratio = (a: number, b: number) => (b > 0 ? a / b : 0);
    result.ratio = {
      top1: ratio(result.cas.top1, result.real.top1),
      top5: ratio(result.cas.top5, result.real.top5),
      meanPerClassAccuracy: ratio(result.cas.meanPerClassAccuracy, result.real.meanPerClassAccuracy),
    };
  }
  await writeFile(join(outDir, 'cas.json'), `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

/** "CAS top-1 61.20%  top-5 95.10%  |  real top-1 91.20%  top-5 99.80%  |  CAS/real 0.671" */
export function formatCasLine(r: CasResult): string {
  const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
  let line = `CAS top-1 ${pct(r.cas.top1)}  top-${r.cas.k} ${pct(r.cas.top5)}  (${r.cas.count} real test images, ${r.cas.numClasses} classes)`;
  if (r.real && r.ratio) line += `  |  real top-1 ${pct(r.real.top1)}  top-${r.real.k} ${pct(r.real.top5)}  |  CAS/real top-1 ${r.ratio.top1.toFixed(3)}`;
  return line;
}

// Training a classifier: a labelled sample source in, a classifier directory out, on the one training
// loop (./loop.ts) with the classifier task below (its batch: augmentation, label smoothing, mixup; its
// loss: soft cross-entropy; its evaluation: top-1/top-5 on --val).
//
//   <out>/config.json, model.safetensors   the classifier (saved at every save point and at the end)
//   <out>/checkpoint/                      the state --resume continues from (checkpoint.ts)
//   <out>/log.jsonl                        one JSON object per epoch (or --log-every steps) and per evaluation
//   <out>/metrics.json                     the final evaluation on --val, when given
//
// Same seed, data and backend → same weights (the loop derives every random stream from the seed).
import * as tf from '@tensorflow/tfjs-core';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../errors.js';
import { warn } from '../log.js';
import { BadInputs } from '../shards/bad.js';
import type { Rng } from '../util/rng.js';
import { createClassifier } from '../models/registry.js';
import type { Classifier } from '../models/classifier.js';
import { classifierFiles, loadClassifier } from '../models/store.js';
import type { ResizePolicy } from '../images/codec.js';
import { accumulate, emptyCounts, finalizeMetrics, type ClassificationCounts, type ClassificationMetrics } from '../metrics/classification.js';
import { batches, examples, probeFirstImage, scan, labelled, type Example, type ImageSpec, type SampleSource } from './data.js';
import { LabelSet } from './labels.js';
import { makeBatch, type Batch } from './augment.js';
import { channelStats, toTensorInput, type Normalization } from '../images/tensor.js';
import { softCrossEntropy } from './loss.js';
import type { Optimizer } from './optim.js';
import { resolveRecipe, type Recipe, type RecipeInput } from './recipe.js';
import { checkOutputDir, loadCheckpoint, type LoopSettings } from './checkpoint.js';
import { newLoopState, runControls, runLoop, type LoopOptions, type RunControls, type TrainingTask } from './loop.js';
import { optimizationStep, type MicroLoss } from './step.js';

export interface TrainOptions extends RunControls {
  source: SampleSource;
  /** Validation samples, evaluated at every save point and at the end. */
  val?: SampleSource;
  recipe: RecipeInput;
  outDir: string;
  resume?: boolean;
  /** Input shape overrides (--image-size, --channels); the rest comes from the first image. */
  height?: number;
  width?: number;
  channels?: 1 | 3;
  resize?: ResizePolicy;
  /** At least this many classes (--num-classes); otherwise the largest label seen + 1. */
  numClasses?: number;
  /** A label set to check the data against and extend (cas shares one between its runs). */
  labels?: LabelSet;
  skipBad?: boolean;
  /** Images per evaluation forward pass. */
  evalBatchSize?: number;
  /** Write into a non-empty --output that holds no checkpoint. */
  force?: boolean;
  provenance?: Record<string, unknown>;
}

export interface TrainResult {
  model: Classifier;
  labels: LabelSet;
  normalization: Normalization;
  imageShape: [number, number, number];
  recipe: Recipe;
  steps: number;
  /** The final evaluation on val, when given. */
  metrics?: ClassificationMetrics;
  /** Examples per pass (training by epochs), as counted before training. */
  trainImages?: number;
  /** Mean training throughput of this run, images per second (data loading included). */
  imagesPerSec: number;
  aborted: boolean;
}

/** Samples whose labels are read to establish the label set when training by steps (no full scan). */
const LABEL_PEEK = 10_000;
/** Images decoded to estimate the input normalisation. */
const NORM_PEEK = 1024;

/** The classifier's part of trainer.json. */
interface ClassifierState extends Record<string, unknown> {
  recipe: Recipe;
  imageShape: [number, number, number];
  normalization: Normalization;
  classNames: string[];
}

/** The loop settings a classifier recipe implies (full batches: BatchNorm statistics are per batch). */
function settingsOf(recipe: Recipe, totalSteps: number): LoopSettings {
  return {
    seed: recipe.seed,
    batchSize: recipe.batchSize,
    microBatch: recipe.batchSize,
    shuffleBuffer: recipe.shuffleBuffer,
    epochs: recipe.epochs,
    totalSteps,
    lr: recipe.lr,
    warmupSteps: recipe.warmupSteps,
    lrDecay: 'cosine',
    optimizer: { optimizer: recipe.optimizer, momentum: recipe.momentum, nesterov: recipe.nesterov, weightDecay: recipe.weightDecay },
    clip: 0,
  };
}

/** Checks the classifier state read back from a checkpoint. */
function checkClassifierState(t: Record<string, unknown>, where: string): ClassifierState {
  const bad = (what: string): never => {
    throw new InputError(`checkpoint ${where}: ${what}`);
  };
  const r = t.recipe as Record<string, unknown> | undefined;
  if (!r || typeof r !== 'object' || typeof r.arch !== 'string' || !Number.isInteger(r.batchSize) || !Number.isInteger(r.seed)) bad('task.recipe is missing or incomplete');
  const shape = t.imageShape;
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((d) => Number.isInteger(d) && d > 0) || ![1, 3].includes(shape[2])) bad('task.imageShape must be [H, W, 1 or 3]');
  const c = (shape as number[])[2];
  const n = t.normalization as Normalization | undefined;
  const finite = (v: unknown, len: number) => Array.isArray(v) && v.length === len && v.every((x) => typeof x === 'number' && Number.isFinite(x));
  if (!n || !finite(n.mean, c) || !finite(n.std, c) || !n.std.every((x) => x > 0)) bad(`task.normalization must hold ${c} means and ${c} positive stds`);
  if (!Array.isArray(t.classNames) || t.classNames.length === 0 || !t.classNames.every((x) => typeof x === 'string')) bad('task.classNames must list the class names');
  return t as ClassifierState;
}

export async function train(o: TrainOptions): Promise<TrainResult> {
  await checkOutputDir(o.outDir, 'classifier', { resume: o.resume, force: o.force });
  await mkdir(o.outDir, { recursive: true });
  const bad = new BadInputs({ skipBad: o.skipBad }, 'sample');
  // Scans read the same samples a pass reads again: their bad samples are counted by the pass only.
  const quiet = new BadInputs({ skipBad: o.skipBad, onBad: () => undefined }, 'sample');
  const resize = o.resize ?? 'none';
  if (o.resume) {
    const ck = await loadCheckpoint(o.outDir, 'classifier');
    const t = checkClassifierState(ck.state.task, join(ck.dir, 'trainer.json'));
    const labels = LabelSet.fromNames(t.classNames, `the checkpoint in ${o.outDir}`);
    if (o.labels) o.labels.checkCompatible(labels);
    const { model } = await loadClassifier(ck.dir);
    const ignored = recipeDifferences(o.recipe, t.recipe);
    if (ignored.length > 0) warn(`--resume continues the checkpoint's recipe; ignoring ${ignored.join(', ')}`);
    const task = new ClassifierTask(model, t, labels, o, bad, resize);
    const r = await runLoop(task, ck.state, { ...loopOptions(o, task, bad, resize), resume: ck });
    return task.result(r, ck.state.passSize);
  }
  const labels = o.labels ?? new LabelSet('the training data');
  const probed = await probeFirstImage(o.source);
  const shape: [number, number, 1 | 3] = [o.height ?? probed[0], o.width ?? probed[1], o.channels ?? probed[2]];
  const spec: ImageSpec = { height: shape[0], width: shape[1], channels: shape[2], resize };
  const byEpochs = o.recipe.steps === undefined;
  let passSize: number | undefined;
  if (byEpochs) passSize = await scan(o.source, labels, quiet);
  else await peekLabels(o.source, labels, quiet);
  if (labels.numClasses === 0) throw new InputError('the training data holds no labelled samples');
  if (!labels.isFixed) labels.fix(Math.max(labels.numClasses, o.numClasses ?? 0));
  const epochs = o.recipe.epochs ?? 1;
  const totalSteps = byEpochs ? epochs * Math.ceil((passSize as number) / o.recipe.batchSize) : (o.recipe.steps as number);
  if (totalSteps === 0) throw new InputError('the training data holds no usable samples');
  const recipe = resolveRecipe(byEpochs ? { ...o.recipe, epochs, steps: undefined } : { ...o.recipe, epochs: undefined }, totalSteps, shape);
  const normalization = channelStats(await firstImages(o.source, spec, labels, quiet, NORM_PEEK), shape[2]);
  const model = createClassifier({ arch: recipe.arch, numClasses: labels.numClasses, inputShape: shape, options: recipe.archOptions }, recipe.seed);
  const t: ClassifierState = { recipe, imageShape: shape, normalization, classNames: labels.classNames() };
  const task = new ClassifierTask(model, t, labels, o, bad, resize);
  const r = await runLoop(task, newLoopState('classifier', settingsOf(recipe, totalSteps), t, passSize), loopOptions(o, task, bad, resize));
  return task.result(r, passSize);
}

function loopOptions(o: TrainOptions, task: ClassifierTask, bad: BadInputs, resize: ResizePolicy): LoopOptions {
  return { outDir: o.outDir, source: o.source, spec: task.spec(resize), labels: task.labels, bad, ...runControls(o) };
}

/** Options given for a resumed run that differ from the checkpoint's recipe ('auto' and unset ones aside). */
export function recipeDifferences(given: RecipeInput, saved: Recipe): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(given)) {
    const was = (saved as unknown as Record<string, unknown>)[key === 'warmup' ? 'warmupSteps' : key];
    if (value === 'auto' || value === undefined || was === undefined) continue;
    if (JSON.stringify(value) !== JSON.stringify(was)) out.push(`${key} ${JSON.stringify(value)} (checkpoint: ${JSON.stringify(was)})`);
  }
  return out;
}

/** Reads the labels of the first samples (training by steps: the source may be endless). */
async function peekLabels(source: SampleSource, labels: LabelSet, bad: BadInputs): Promise<void> {
  let n = 0;
  for await (const _ of labelled(source(), labels, bad)) if (++n >= LABEL_PEEK) break;
}

async function firstImages(source: SampleSource, spec: ImageSpec, labels: LabelSet, bad: BadInputs, count: number): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const ex of examples(source, { spec, labels, bad, shuffleBuffer: 0, seed: 0, prefetch: 64 })) {
    out.push(ex.image);
    if (out.length >= count) break;
  }
  return out;
}

/** The classifier task of the training loop. */
class ClassifierTask implements TrainingTask<Batch> {
  readonly kind = 'classifier' as const;
  private metrics?: ClassificationMetrics;

  constructor(
    readonly model: Classifier,
    private readonly t: ClassifierState,
    readonly labels: LabelSet,
    private readonly o: TrainOptions,
    private readonly bad: BadInputs,
    private readonly resize: ResizePolicy,
  ) {}

  spec(resize: ResizePolicy): ImageSpec {
    const [height, width, channels] = this.t.imageShape;
    return { height, width, channels: channels as 1 | 3, resize };
  }

  parameters(): Array<[string, tf.Variable]> {
    return this.model.namedParameters();
  }

  state(): ClassifierState {
    return { ...this.t, classNames: this.labels.classNames() };
  }

  makeBatch(items: Example[], rng: Rng): Batch {
    return makeBatch(
      items.map((e) => e.image),
      items.map((e) => e.label),
      this.t.imageShape,
      this.labels.numClasses,
      this.t.normalization,
      this.t.recipe,
      rng,
    );
  }

  batchSize(b: Batch): number {
    return b.size;
  }

  loss(b: Batch, start: number, end: number): MicroLoss {
    return classifierLoss(this.model, b, this.t.imageShape, this.labels.numClasses, start, end);
  }

  modelFiles(): Array<[string, Buffer | string]> {
    return classifierFiles(this.model, { classNames: this.labels.classNames(), normalization: this.t.normalization, provenance: { recipe: this.t.recipe, ...(this.o.provenance ?? {}) } });
  }

  async evaluate(): Promise<{ record: Record<string, number>; line: string } | undefined> {
    if (!this.o.val) return undefined;
    const counts = await evaluate(this.model, this.o.val, { spec: this.spec(this.resize), labels: this.labels, bad: this.bad, normalization: this.t.normalization, batchSize: this.o.evalBatchSize ?? 256 });
    const m = finalizeMetrics(counts, this.labels.displayNames());
    this.metrics = m;
    return {
      record: { loss: m.loss, acc: m.top1, top5: m.top5 },
      line: `val: top-1 ${(100 * m.top1).toFixed(2)}%  top-${m.k} ${(100 * m.top5).toFixed(2)}%  loss ${m.loss.toFixed(4)}`,
    };
  }

  async result(r: { steps: number; stopped: string; imagesPerSec: number }, passSize: number | undefined): Promise<TrainResult> {
    if (this.metrics && r.stopped !== 'aborted') await writeFile(join(this.o.outDir, 'metrics.json'), `${JSON.stringify(this.metrics, null, 2)}\n`);
    return {
      model: this.model,
      labels: this.labels,
      normalization: this.t.normalization,
      imageShape: this.t.imageShape,
      recipe: this.t.recipe,
      steps: r.steps,
      trainImages: passSize,
      metrics: r.stopped === 'aborted' ? undefined : this.metrics,
      imagesPerSec: r.imagesPerSec,
      aborted: r.stopped === 'aborted',
    };
  }
}

/** Soft cross-entropy over images [start, end) of a batch; stats.acc counts correct argmax predictions. */
function classifierLoss(model: Classifier, b: Batch, shape: [number, number, number], numClasses: number, start: number, end: number): MicroLoss {
  const n = end - start;
  const px = shape[0] * shape[1] * shape[2];
  const x = tf.tensor4d(b.x.subarray(start * px, end * px), [n, ...shape]); // [n, H, W, C]
  const t = tf.tensor2d(b.targets.subarray(start * numClasses, end * numClasses), [n, numClasses]); // [n, K]
  const y = tf.tensor1d(b.labels.subarray(start, end), 'int32');
  const logits = model.forward(x, { training: true }); // [n, K]
  const acc = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), y), 'float32')) as tf.Scalar;
  return { loss: softCrossEntropy(logits, t), stats: { acc } };
}

/** One optimisation step on a whole batch; returns the mean loss and the number of correct argmax predictions. */
export function trainStep(
  model: Classifier,
  optimizer: Optimizer,
  _vars: tf.Variable[],
  b: Batch,
  shape: [number, number, number],
  numClasses: number,
  lr: number,
): { loss: number; correct: number } {
  const r = optimizationStep(model.namedParameters(), optimizer, lr, [{ weight: 1, run: () => classifierLoss(model, b, shape, numClasses, 0, b.size) }]);
  return { loss: r.loss, correct: r.stats.acc ?? 0 };
}

export interface EvaluateOptions {
  spec: ImageSpec;
  labels: LabelSet;
  bad: BadInputs;
  normalization: Normalization;
  batchSize: number;
  prefetch?: number;
}

/** Eval-mode forward over every sample of `source` (in order), accumulated into counts. */
export async function evaluate(model: Classifier, source: SampleSource, o: EvaluateOptions): Promise<ClassificationCounts> {
  const K = o.labels.numClasses;
  const counts = emptyCounts(K);
  const shape: [number, number, number] = [o.spec.height, o.spec.width, o.spec.channels];
  const pass = examples(source, { spec: o.spec, labels: o.labels, bad: o.bad, shuffleBuffer: 0, seed: 0, prefetch: o.prefetch ?? 2 * o.batchSize });
  for await (const batch of batches(pass, o.batchSize)) {
    const images = new Uint8Array(batch.length * batch[0].image.length);
    batch.forEach((e, i) => images.set(e.image, i * e.image.length));
    const x = toTensorInput(images, shape[2], o.normalization);
    const logits = tf.tidy(() => model.forward(tf.tensor4d(x, [batch.length, ...shape]), { training: false }));
    const data = await logits.data();
    logits.dispose();
    accumulate(counts, data, batch.map((e) => e.label));
  }
  if (counts.count === 0) throw new InputError('the evaluation data holds no usable samples');
  return counts;
}

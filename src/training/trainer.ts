// The training loop: a labelled sample source in, a classifier directory out.
//
//   <out>/config.json, model.safetensors   the classifier (saved at every save point and at the end)
//   <out>/checkpoint/                      the state --resume continues from (checkpoint.ts)
//   <out>/log.jsonl                        one JSON object per epoch (or --log-every steps) and per evaluation
//   <out>/metrics.json                     the final evaluation on --val, when given
//
// Randomness: the weights are initialised from `seed`; the shuffle of pass p draws from
// subSeed(seed, 'shuffle', p) and the augmentation of step s from subSeed(seed, 'augment', s), so the
// random state at any point is a function of (step, pass) and a resumed run repeats the draws of an
// uninterrupted one exactly. Same seed, data and backend → same weights.
import * as tf from '@tensorflow/tfjs-core';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError, UsageError } from '../errors.js';
import { warn } from '../log.js';
import { BadInputs } from '../shards/bad.js';
import { Rng } from '../util/rng.js';
import { createClassifier } from '../models/registry.js';
import type { Classifier } from '../models/classifier.js';
import { saveClassifier } from '../models/store.js';
import type { ResizePolicy } from '../images/codec.js';
import { accumulate, emptyCounts, finalizeMetrics, type ClassificationCounts, type ClassificationMetrics } from '../metrics/classification.js';
import { batches, examples, probeFirstImage, scan, labelled, type ImageSpec, type SampleSource } from './data.js';
import { LabelSet } from './labels.js';
import { makeBatch, type Batch } from './augment.js';
import { channelStats, toTensorInput, type Normalization } from '../images/tensor.js';
import { softCrossEntropy } from './loss.js';
import { createOptimizer, type Optimizer } from './optim.js';
import { cosineLr } from './schedule.js';
import { resolveRecipe, type Recipe, type RecipeInput } from './recipe.js';
import { hasCheckpoint, loadCheckpoint, saveCheckpoint, type TrainerState } from './checkpoint.js';
import { createProgress, epochLine, JsonLog, type ProgressMode } from './progress.js';

export interface TrainOptions {
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
  /** Checkpoint (and evaluate) every N steps; 0: at every epoch end (by epochs) or only at the end (by steps). */
  saveEvery?: number;
  /** A train log line every N steps; 0: once per epoch (by epochs) or every 100 steps (by steps). */
  logEvery?: number;
  progress?: ProgressMode;
  /** Decodes in flight ahead of the training step (default 2 batches). */
  prefetch?: number;
  /** Images per evaluation forward pass. */
  evalBatchSize?: number;
  /** Checked after every step: stop at once, without saving (as a crash would). */
  signal?: AbortSignal;
  onStep?: (step: number, loss: number) => void;
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

/** A 53-bit seed for one stream of random draws, from the user's seed, a purpose and an index. */
export function subSeed(seed: number, purpose: string, index: number): number {
  // FNV-1a over the text, twice with different offsets, for 2 × 32 bits (high part cut to 21 bits).
  const text = `${seed}:${purpose}:${index}`;
  const h = (offset: number) => {
    let x = offset >>> 0;
    for (let i = 0; i < text.length; i++) x = Math.imul(x ^ text.charCodeAt(i), 16777619) >>> 0;
    return x;
  };
  return (h(2166136261) & 0x1fffff) * 4294967296 + h(0x811c9dc5 ^ 0x5bd1e995);
}

/** Samples whose labels are read to establish the label set when training by steps (no full scan). */
const LABEL_PEEK = 10_000;
/** Images decoded to estimate the input normalisation. */
const NORM_PEEK = 1024;

export async function train(o: TrainOptions): Promise<TrainResult> {
  await mkdir(o.outDir, { recursive: true });
  const bad = new BadInputs({ skipBad: o.skipBad }, 'sample');
  // Scans read the same samples a pass reads again: their bad samples are counted by the pass only.
  const quiet = new BadInputs({ skipBad: o.skipBad, onBad: () => undefined }, 'sample');
  const resize = o.resize ?? 'none';
  let model: Classifier;
  let optimizer: Optimizer;
  let state: TrainerState;
  let labels: LabelSet;

  if (o.resume) {
    if (!hasCheckpoint(o.outDir)) throw new UsageError(`--resume: ${join(o.outDir, 'checkpoint')} holds no checkpoint`);
    const ck = await loadCheckpoint(o.outDir);
    state = ck.state;
    model = ck.model;
    labels = LabelSet.fromNames(state.classNames, `the checkpoint in ${o.outDir}`);
    if (o.labels) o.labels.checkCompatible(labels);
    optimizer = createOptimizer(model.namedParameters(), state.recipe);
    if (ck.optimizer.name !== state.recipe.optimizer) {
      throw new InputError(`checkpoint in ${o.outDir}: optimizer state is ${ck.optimizer.name} but the recipe says ${state.recipe.optimizer}`);
    }
    optimizer.loadStateDict(ck.optimizer);
    const ignored = recipeDifferences(o.recipe, state.recipe);
    if (ignored.length > 0) warn(`--resume continues the checkpoint's recipe; ignoring ${ignored.join(', ')}`);
  } else {
    if (hasCheckpoint(o.outDir)) {
      throw new UsageError(`${o.outDir} already holds a training checkpoint: pass --resume to continue it, or choose another --output`);
    }
    labels = o.labels ?? new LabelSet('the training data');
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
    model = createClassifier({ arch: recipe.arch, numClasses: labels.numClasses, inputShape: shape, options: recipe.archOptions }, recipe.seed);
    optimizer = createOptimizer(model.namedParameters(), recipe);
    state = { format: 1, recipe, step: 0, totalSteps, pass: 0, consumed: 0, passSize, imageShape: shape, normalization, classNames: labels.classNames(), elapsed: 0 };
  }
  try {
    return await loop(o, model, optimizer, state, labels, bad, resize);
  } finally {
    optimizer.dispose();
  }
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

async function loop(
  o: TrainOptions,
  model: Classifier,
  optimizer: Optimizer,
  state: TrainerState,
  labels: LabelSet,
  bad: BadInputs,
  resize: ResizePolicy,
): Promise<TrainResult> {
  const r = state.recipe;
  const shape = state.imageShape;
  const spec: ImageSpec = { height: shape[0], width: shape[1], channels: shape[2] as 1 | 3, resize };
  const K = labels.numClasses;
  const byEpochs = r.epochs !== undefined;
  const stepsPerPass = state.passSize !== undefined ? Math.ceil(state.passSize / r.batchSize) : undefined;
  const saveEvery = o.saveEvery ?? 0;
  const logEvery = o.logEvery || (byEpochs ? 0 : Math.min(100, state.totalSteps));
  const prefetch = o.prefetch ?? Math.max(16, 2 * r.batchSize);
  const log = new JsonLog(join(o.outDir, 'log.jsonl'));
  const progress = createProgress(o.progress ?? 'auto');
  const vars = model.namedParameters().map(([, v]) => v);
  const provenance = { recipe: r, ...(o.provenance ?? {}) };
  const runStart = performance.now();
  const elapsed = () => state.elapsed + (performance.now() - runStart) / 1000;
  let runImages = 0;
  let metrics: ClassificationMetrics | undefined;
  let metricsStep = -1;

  const evaluateVal = async (): Promise<void> => {
    if (!o.val || metricsStep === state.step) return;
    const counts = await evaluate(model, o.val, { spec, labels, bad, normalization: state.normalization, batchSize: o.evalBatchSize ?? 256 });
    metrics = finalizeMetrics(counts, labels.displayNames());
    metricsStep = state.step;
    log.write({ type: 'val', epoch: state.pass, step: state.step, loss: metrics.loss, acc: metrics.top1, top5: metrics.top5, elapsed: elapsed() });
    progress.line(`val step ${state.step}: top-1 ${(100 * metrics.top1).toFixed(2)}%  top-${metrics.k} ${(100 * metrics.top5).toFixed(2)}%  loss ${metrics.loss.toFixed(4)}`);
  };
  const savePoint = async (): Promise<void> => {
    const snapshot = { ...state, elapsed: elapsed(), classNames: labels.classNames() };
    await saveCheckpoint(o.outDir, model, optimizer, snapshot, provenance);
    await saveClassifier(o.outDir, model, { classNames: snapshot.classNames, normalization: state.normalization, provenance });
  };

  // Running loss/accuracy/throughput since the last log line.
  let win = { lossSum: 0, correct: 0, seen: 0, start: performance.now() };
  let lastLr = 0;
  let lastStepPass = state.pass; // the pass of the latest step: a closing line belongs to it, not to the next pass
  const line = () => {
    const secs = (performance.now() - win.start) / 1000;
    const v = { loss: win.lossSum / Math.max(1, win.seen), acc: win.correct / Math.max(1, win.seen), imagesPerSec: win.seen / Math.max(1e-9, secs) };
    log.write({ type: 'train', epoch: lastStepPass, step: state.step, lr: lastLr, loss: v.loss, acc: v.acc, imagesPerSec: v.imagesPerSec, elapsed: elapsed() });
    progress.line(epochLine(lastStepPass, r.epochs, state.step, lastLr, v, elapsed()));
    win = { lossSum: 0, correct: 0, seen: 0, start: performance.now() };
  };

  while (state.step < state.totalSteps && !(byEpochs && state.pass >= (r.epochs as number))) {
    progress.startEpoch(state.pass, r.epochs, stepsPerPass);
    let stepsInPass = 0;
    let passDone = true;
    const pass = examples(o.source, {
      spec,
      labels,
      bad,
      shuffleBuffer: r.shuffleBuffer,
      seed: subSeed(r.seed, 'shuffle', state.pass),
      skip: state.consumed,
      prefetch,
    });
    const startConsumed = state.consumed;
    for await (const batch of batches(pass, r.batchSize)) {
      const lr = cosineLr({ baseLr: r.lr, warmupSteps: r.warmupSteps, totalSteps: state.totalSteps }, state.step);
      const rng = new Rng(subSeed(r.seed, 'augment', state.step));
      const b = makeBatch(
        batch.map((e) => e.image),
        batch.map((e) => e.label),
        shape,
        K,
        state.normalization,
        r,
        rng,
      );
      const { loss, correct: c } = trainStep(model, optimizer, vars, b, shape, K, lr);
      if (!Number.isFinite(loss)) throw new Error(`training diverged: loss ${loss} at step ${state.step + 1} (lower --lr?)`);
      state.step++;
      state.consumed = batch[batch.length - 1].position + 1;
      stepsInPass++;
      lastLr = lr;
      lastStepPass = state.pass;
      win.lossSum += loss * b.size;
      win.correct += c;
      win.seen += b.size;
      runImages += b.size;
      const secs = (performance.now() - win.start) / 1000;
      progress.update(stepsInPass + Math.ceil(startConsumed / r.batchSize), {
        loss: win.lossSum / win.seen,
        acc: win.correct / win.seen,
        imagesPerSec: win.seen / Math.max(1e-9, secs),
        step: state.step,
        totalSteps: state.totalSteps,
      });
      o.onStep?.(state.step, loss);
      if (o.signal?.aborted) {
        progress.stop();
        return result(true);
      }
      if (logEvery > 0 && state.step % logEvery === 0) line();
      if (saveEvery > 0 && state.step % saveEvery === 0 && state.step < state.totalSteps) {
        await evaluateVal();
        await savePoint();
      }
      if (state.step >= state.totalSteps) {
        passDone = false;
        break;
      }
    }
    if (stepsInPass === 0 && startConsumed === 0) {
      throw new InputError('a pass over the training data gave no usable samples');
    }
    if (passDone || (byEpochs && state.step >= state.totalSteps)) {
      if (logEvery === 0) line();
      state.pass++;
      state.consumed = 0;
      if (byEpochs && saveEvery === 0 && state.step < state.totalSteps) {
        await evaluateVal();
        await savePoint();
      }
    }
  }
  if (win.seen > 0) line();
  progress.stop();
  await evaluateVal();
  await savePoint();
  bad.summary();
  if (metrics) await writeFile(join(o.outDir, 'metrics.json'), `${JSON.stringify(metrics, null, 2)}\n`);
  return result(false);

  function result(aborted: boolean): TrainResult {
    const secs = (performance.now() - runStart) / 1000;
    return {
      model,
      labels,
      normalization: state.normalization,
      imageShape: shape,
      recipe: r,
      steps: state.step,
      trainImages: state.passSize,
      metrics,
      imagesPerSec: runImages / Math.max(1e-9, secs),
      aborted,
    };
  }
}

/** One optimisation step on a batch; returns the mean loss and the number of correct argmax predictions. */
export function trainStep(
  model: Classifier,
  optimizer: Optimizer,
  vars: tf.Variable[],
  b: Batch,
  shape: [number, number, number],
  numClasses: number,
  lr: number,
): { loss: number; correct: number } {
  const x = tf.tensor4d(b.x, [b.size, ...shape]); // [B, H, W, C]
  const t = tf.tensor2d(b.targets, [b.size, numClasses]); // [B, K]
  const y = tf.tensor1d(b.labels, 'int32');
  let hits: tf.Tensor | undefined;
  const { value, grads } = tf.variableGrads(() => {
    const logits = model.forward(x, { training: true }); // [B, K]
    hits = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), y), 'int32')));
    return softCrossEntropy(logits, t);
  }, vars);
  optimizer.step(grads, lr);
  const loss = value.dataSync()[0];
  const correct = hits ? hits.dataSync()[0] : 0;
  tf.dispose([x, t, y, value, ...(hits ? [hits] : []), ...Object.values(grads)]);
  return { loss, correct };
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

// The one training loop. It owns what every task shares: passes over the data (shuffled, decoded ahead,
// resumable mid-pass), steps, the learning-rate schedule, the optimiser, micro-batch gradient
// accumulation, clipping, the moving average, the non-finite guard, atomic checkpoints tagged with the
// task's kind, the time budget, the progress bar and the JSON-lines log. A task (a classifier, a
// diffusion model) supplies what differs: the batch, the loss and its statistics, the evaluation and the
// model's files. As in k-diffusion's training script and nanoGPT, the model side returns its loss and
// the loop does the rest.
//
// Randomness: the shuffle of pass p draws from subSeed(seed, 'shuffle', p) and everything a batch draws
// (augmentation, noise levels, label dropout) from subSeed(seed, 'batch', step), so the random state at
// any point is a function of (step, pass) and a resumed run repeats the draws of a straight one exactly.
import type * as tf from '@tensorflow/tfjs-core';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../errors.js';
import type { BadInputs } from '../shards/bad.js';
import { Rng, subSeed } from '../util/rng.js';
import { writeModelFiles } from '../models/store.js';
import { batches, examples, type Example, type ImageSpec, type Labeler, type SampleSource } from './data.js';
import { createOptimizer, type Optimizer } from './optim.js';
import { cosineLr } from './schedule.js';
import { saveCheckpoint, stateFiles, type LoadedCheckpoint, type LoopSettings, type LoopState, type TaskKind } from './checkpoint.js';
import { createProgress, epochLine, JsonLog, type ProgressMode } from './progress.js';
import { Ema, optimizationStep, type MicroLoss } from './step.js';

/** What differs between training a classifier and a diffusion model. */
export interface TrainingTask<B> {
  readonly kind: TaskKind;
  /** The trainable parameters, by name. */
  parameters(): Array<[string, tf.Variable]>;
  /** The task's part of trainer.json (enough to rebuild the task on --resume). */
  state(): Record<string, unknown>;
  /** A host-side batch from decoded examples; `rng` is the step's stream (augmentation, noise, dropout). */
  makeBatch(examples: Example[], rng: Rng): B;
  batchSize(batch: B): number;
  /** Loss over images [start, end) of the batch: their mean; stats are sums over those images (acc: correct). */
  loss(batch: B, start: number, end: number): MicroLoss;
  /** The model directory's files at this point, config.json last (EMA weights given when kept). */
  modelFiles(ema?: Map<string, tf.Tensor>): Array<[string, Buffer | string]>;
  /** An evaluation at save points and at the end: a log record and a line for stderr. */
  evaluate?(): Promise<{ record: Record<string, number>; line: string } | undefined>;
}

/** How a run is driven and shown (not part of what it computes): shared by every task's options. */
export interface RunControls {
  /** Checkpoint (and evaluate) every N steps; 0: at every epoch end (by epochs) or only at the end (by steps). */
  saveEvery?: number;
  /** A train log line every N steps; 0: once per epoch (by epochs) or every min(100, steps) steps. */
  logEvery?: number;
  progress?: ProgressMode;
  /** Decodes in flight ahead of the training step (default max(16, 2 batches)). */
  prefetch?: number;
  /** Seconds this run may train; then it stops cleanly at a step boundary and saves. */
  timeBudget?: number;
  /** Checked after every step: stop at once, without saving (as a crash would). */
  signal?: AbortSignal;
  onStep?: (step: number, loss: number) => void;
}

/** The run controls of a task's options, for LoopOptions. */
export function runControls(o: RunControls): RunControls {
  const { saveEvery, logEvery, progress, prefetch, timeBudget, signal, onStep } = o;
  return { saveEvery, logEvery, progress, prefetch, timeBudget, signal, onStep };
}

export interface LoopOptions extends RunControls {
  outDir: string;
  source: SampleSource;
  spec: ImageSpec;
  labels: Labeler;
  bad: BadInputs;
  /** Continue from this checkpoint (its optimiser and moving-average state are loaded here). */
  resume?: LoadedCheckpoint;
}

export interface LoopResult {
  steps: number;
  /** 'done': all steps; 'time': the time budget ran out (checkpoint saved); 'aborted': the signal fired (nothing saved). */
  stopped: 'done' | 'time' | 'aborted';
  /** Mean training throughput of this run, images per second (data loading included). */
  imagesPerSec: number;
  /** Steps skipped for a non-finite loss or gradient, over all runs. */
  skipped: number;
  /** Peak resident set size of the process, MiB. */
  peakRssMB: number;
}

/** Stop with an error after this many non-finite steps in a row. */
export const MAX_NONFINITE_IN_A_ROW = 10;

/** Learning rate of step `step` (0-based): linear warmup, then cosine decay to 0 or constant. */
export function learningRate(s: LoopSettings, step: number): number {
  if (s.lrDecay === 'cosine') return cosineLr({ baseLr: s.lr, warmupSteps: s.warmupSteps, totalSteps: s.totalSteps }, step);
  return step < s.warmupSteps ? (s.lr * (step + 1)) / s.warmupSteps : s.lr;
}

/** Peak resident set size so far, MiB (getrusage's ru_maxrss). */
export function peakRssMB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/** A fresh loop state for a new run. */
export function newLoopState<T extends Record<string, unknown>>(kind: TaskKind, settings: LoopSettings, task: T, passSize?: number): LoopState<T> {
  return { format: 2, kind, settings, step: 0, pass: 0, consumed: 0, passSize, elapsed: 0, skipped: 0, task };
}

export async function runLoop<B>(task: TrainingTask<B>, state: LoopState, o: LoopOptions): Promise<LoopResult> {
  await mkdir(o.outDir, { recursive: true });
  const s = state.settings;
  const params = task.parameters();
  const optimizer: Optimizer = createOptimizer(params, s.optimizer);
  const ema = s.ema ? new Ema(params, s.ema.decay, s.ema.warmup) : undefined;
  try {
    if (o.resume) {
      optimizer.loadStateDict(o.resume.optimizer);
      if (ema) ema.loadStateDict(o.resume.average ?? new Map(), join(o.resume.dir, 'average.safetensors'));
    }
    return await loop(task, state, o, optimizer, ema);
  } finally {
    optimizer.dispose();
    ema?.dispose();
  }
}

async function loop<B>(task: TrainingTask<B>, state: LoopState, o: LoopOptions, optimizer: Optimizer, ema: Ema | undefined): Promise<LoopResult> {
  const s = state.settings;
  const params = task.parameters();
  const byEpochs = s.epochs !== undefined;
  const stepsPerPass = state.passSize !== undefined ? Math.ceil(state.passSize / s.batchSize) : undefined;
  const saveEvery = o.saveEvery ?? 0;
  const logEvery = o.logEvery || (byEpochs ? 0 : Math.min(100, s.totalSteps));
  const prefetch = o.prefetch ?? Math.max(16, 2 * s.batchSize);
  const log = new JsonLog(join(o.outDir, 'log.jsonl'));
  const progress = createProgress(o.progress ?? 'auto');
  const runStart = performance.now();
  const runSeconds = () => (performance.now() - runStart) / 1000;
  const elapsed = () => state.elapsed + runSeconds();
  let runImages = 0;
  let evaluatedAt = -1;
  let nonFiniteInARow = 0;

  const evaluate = async (): Promise<void> => {
    if (!task.evaluate || evaluatedAt === state.step) return;
    const r = await task.evaluate();
    evaluatedAt = state.step;
    if (!r) return;
    log.write({ type: 'val', epoch: state.pass, step: state.step, ...r.record, elapsed: elapsed() });
    progress.line(r.line);
  };
  const savePoint = async (): Promise<void> => {
    const snapshot: LoopState = { ...state, elapsed: elapsed(), task: task.state() };
    const model = task.modelFiles(ema?.tensors());
    const opt = { name: optimizer.name, ...optimizer.stateDict() };
    await saveCheckpoint(o.outDir, [...model, ...stateFiles(snapshot, opt, ema?.stateDict())]);
    await writeModelFiles(o.outDir, model);
  };

  // Running sums since the last log line.
  let win = { loss: 0, stats: {} as Record<string, number>, seen: 0, steps: 0, start: performance.now() };
  let lastLr = 0;
  let lastStepPass = state.pass; // the pass of the latest step: a closing line belongs to it, not to the next pass
  const means = () => {
    const secs = (performance.now() - win.start) / 1000;
    const stats = Object.fromEntries(Object.entries(win.stats).map(([k, v]) => [k, v / Math.max(1, win.seen)]));
    return { loss: win.loss / Math.max(1, win.seen), ...stats, imagesPerSec: win.seen / Math.max(1e-9, secs) };
  };
  // A line and a log record for the steps since the last one; none for an empty window (a pass that was
  // already done when a run resumed at its end, or a window of skipped steps).
  const line = () => {
    if (win.steps === 0) return;
    const v = means();
    log.write({ type: 'train', epoch: lastStepPass, step: state.step, lr: lastLr, ...v, peakRssMB: Math.round(peakRssMB()), skipped: state.skipped, elapsed: elapsed() });
    progress.line(`${epochLine(lastStepPass, s.epochs, state.step, lastLr, v, elapsed())}  peak RSS ${Math.round(peakRssMB())} MiB`);
    win = { loss: 0, stats: {}, seen: 0, steps: 0, start: performance.now() };
  };
  const result = (stopped: LoopResult['stopped']): LoopResult => ({
    steps: state.step,
    stopped,
    imagesPerSec: runImages / Math.max(1e-9, runSeconds()),
    skipped: state.skipped,
    peakRssMB: peakRssMB(),
  });
  const finish = async (stopped: 'done' | 'time'): Promise<LoopResult> => {
    line();
    progress.stop();
    await evaluate();
    await savePoint();
    o.bad.summary();
    return result(stopped);
  };

  if (!byEpochs) progress.startEpoch(0, undefined, s.totalSteps, { from: state.step });
  while (state.step < s.totalSteps && !(byEpochs && state.pass >= (s.epochs as number))) {
    if (byEpochs) progress.startEpoch(state.pass, s.epochs, stepsPerPass);
    let stepsInPass = 0;
    let passDone = true;
    const pass = examples(o.source, {
      spec: o.spec,
      labels: o.labels,
      bad: o.bad,
      shuffleBuffer: s.shuffleBuffer,
      seed: subSeed(s.seed, 'shuffle', state.pass),
      skip: state.consumed,
      prefetch,
    });
    const startConsumed = state.consumed;
    for await (const items of batches(pass, s.batchSize)) {
      const lr = learningRate(s, state.step);
      const batch = task.makeBatch(items, new Rng(subSeed(s.seed, 'batch', state.step)));
      const n = task.batchSize(batch);
      const micro = [];
      for (let start = 0; start < n; start += s.microBatch) {
        const end = Math.min(n, start + s.microBatch);
        micro.push({ weight: (end - start) / n, run: () => task.loss(batch, start, end) });
      }
      const r = optimizationStep(params, optimizer, lr, micro, s.clip);
      state.step++;
      state.consumed = items[items.length - 1].position + 1;
      stepsInPass++;
      lastStepPass = state.pass;
      runImages += n;
      if (r.skipped) {
        state.skipped++;
        progress.line(`step ${state.step}: non-finite ${Number.isFinite(r.loss) ? 'gradient' : `loss ${r.loss}`}, step skipped (${state.skipped} so far)`);
        if (++nonFiniteInARow >= MAX_NONFINITE_IN_A_ROW) {
          progress.stop();
          throw new Error(`training diverged: ${nonFiniteInARow} steps in a row with a non-finite loss or gradient, up to step ${state.step} (lower --lr?)`);
        }
      } else {
        nonFiniteInARow = 0;
        ema?.update(optimizer.steps);
        lastLr = lr;
        win.loss += r.loss * n;
        win.steps++;
        win.seen += n;
        for (const [k, v] of Object.entries(r.stats)) win.stats[k] = (win.stats[k] ?? 0) + v;
      }
      const v = means();
      progress.update(byEpochs ? stepsInPass + Math.ceil(startConsumed / s.batchSize) : state.step, {
        loss: v.loss,
        acc: (v as Record<string, number>).acc,
        imagesPerSec: v.imagesPerSec,
      });
      o.onStep?.(state.step, r.loss);
      if (o.signal?.aborted) {
        progress.stop();
        return result('aborted');
      }
      if (logEvery > 0 && state.step % logEvery === 0) line();
      if (o.timeBudget !== undefined && runSeconds() >= o.timeBudget && state.step < s.totalSteps) {
        progress.line(`time budget of ${o.timeBudget} s used: stopping at step ${state.step} of ${s.totalSteps} (continue with --resume)`);
        return finish('time');
      }
      if (saveEvery > 0 && state.step % saveEvery === 0 && state.step < s.totalSteps) {
        await evaluate();
        await savePoint();
      }
      if (state.step >= s.totalSteps) {
        passDone = false;
        break;
      }
    }
    if (stepsInPass === 0 && startConsumed === 0) {
      throw new InputError('a pass over the training data gave no usable samples');
    }
    if (passDone || (byEpochs && state.step >= s.totalSteps)) {
      if (logEvery === 0) line();
      state.pass++;
      state.consumed = 0;
      if (byEpochs && saveEvery === 0 && state.step < s.totalSteps) {
        await evaluate();
        await savePoint();
      }
    }
  }
  return finish('done');
}


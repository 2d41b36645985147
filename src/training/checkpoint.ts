// Checkpoints for --resume, one format for every task, inside the output directory:
//   <out>/checkpoint/<model files>          the task's model directory at that step (config.json, weights)
//   <out>/checkpoint/optimizer.safetensors  optimiser state by "<param>.<slot>" (F32), scalars in the metadata
//   <out>/checkpoint/average.safetensors    the EMA of the parameters by name (tfjs layout), when kept
//   <out>/checkpoint/trainer.json           kind, loop settings, step, data position, the task's own state
// A new checkpoint is written in full to a fresh temporary directory (exclusive, unpredictable name),
// then swapped in by renames: checkpoint → checkpoint.old, new → checkpoint, checkpoint.old removed.
// A crash between the renames leaves checkpoint.old, which hasCheckpoint() puts back: a reader sees the
// old checkpoint or the new one, never a mix. The random state is a function of (seed, purpose, step)
// and (seed, pass), so the step and the data position are all that is needed to continue the same draws.
import { temporaryName } from '../util/atomic.js';
import { existsSync, lstatSync, renameSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError, UsageError } from '../errors.js';
import { encodeSafetensors, readSafetensors, type NamedTensor } from '../nn/safetensors.js';
import type { OptimizerName, OptimizerOptions, StateTensor } from './optim.js';

export const CHECKPOINT_DIR = 'checkpoint';
export const TRAINER_FILE = 'trainer.json';
const OPTIMIZER_FILE = 'optimizer.safetensors';
const AVERAGE_FILE = 'average.safetensors';
const FORMAT = 2;

export type TaskKind = 'classifier' | 'diffusion';

/** What the loop needs to continue a run exactly; fixed when the run starts. */
export interface LoopSettings {
  seed: number;
  /** Images per optimisation step, and per forward/backward pass (gradients are summed over micro-batches). */
  batchSize: number;
  microBatch: number;
  shuffleBuffer: number;
  /** Passes over the data when training by epochs. */
  epochs?: number;
  totalSteps: number;
  /** Peak learning rate after a linear warmup of warmupSteps; then cosine decay to 0, or constant. */
  lr: number;
  warmupSteps: number;
  lrDecay: 'cosine' | 'constant';
  optimizer: OptimizerOptions;
  /** Largest global gradient norm (0: no clipping). */
  clip: number;
  /** Exponential moving average of the weights: decay, and whether it warms up (min(decay, (1+t)/(10+t))). */
  ema?: { decay: number; warmup: boolean };
}

export interface LoopState<T = Record<string, unknown>> {
  format: number;
  kind: TaskKind;
  settings: LoopSettings;
  /** Optimisation steps done (skipped non-finite steps included). */
  step: number;
  /** The pass (epoch) in progress, 0-based, and how many samples of its shuffled order were consumed. */
  pass: number;
  consumed: number;
  /** Examples per pass when known (training by epochs). */
  passSize?: number;
  /** Seconds of training so far, over all runs. */
  elapsed: number;
  /** Steps skipped for a non-finite loss or gradient, over all runs. */
  skipped: number;
  /** The task's own state (recipe, image shape, class names...). */
  task: T;
}

export interface OptimizerState {
  name: string;
  tensors: Map<string, StateTensor>;
  scalars: Record<string, number>;
}

/** The files of a checkpoint beside the task's model files. */
export function stateFiles(state: LoopState, optimizer: { name: OptimizerName } & Omit<OptimizerState, 'name'>, average?: Map<string, StateTensor>): Array<[string, Buffer | string]> {
  const named = (m: Map<string, StateTensor>) => new Map<string, NamedTensor>([...m].map(([k, t]) => [k, { dtype: 'F32', shape: t.shape, data: t.data }]));
  const meta = Object.fromEntries(Object.entries(optimizer.scalars).map(([k, v]) => [k, String(v)]));
  const files: Array<[string, Buffer | string]> = [[OPTIMIZER_FILE, encodeSafetensors(named(optimizer.tensors), { optimizer: optimizer.name, ...meta })]];
  if (average) files.push([AVERAGE_FILE, encodeSafetensors(named(average), { contents: 'ema' })]);
  files.push([TRAINER_FILE, `${JSON.stringify(state, null, 2)}\n`]);
  return files;
}

/** Writes a complete checkpoint (model files, then stateFiles) and swaps it in (see the header). */
export async function saveCheckpoint(outDir: string, files: ReadonlyArray<readonly [string, Buffer | string]>): Promise<void> {
  const final = join(outDir, CHECKPOINT_DIR);
  const old = join(outDir, `${CHECKPOINT_DIR}.old`);
  const tmp = temporaryName(final);
  await mkdir(tmp);
  try {
    for (const [file, data] of files) await writeFile(join(tmp, file), data, { flag: 'wx' });
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  await rm(old, { recursive: true, force: true });
  if (existsSync(final)) await rename(final, old);
  await rename(tmp, final);
  await rm(old, { recursive: true, force: true });
}

/** Whether `outDir` holds a checkpoint (putting back one a crash left half-swapped). */
export function hasCheckpoint(outDir: string): boolean {
  const final = join(outDir, CHECKPOINT_DIR);
  const old = join(outDir, `${CHECKPOINT_DIR}.old`);
  if (!existsSync(final) && existsSync(join(old, TRAINER_FILE)) && !lstatSync(old).isSymbolicLink()) renameSync(old, final);
  return existsSync(join(final, TRAINER_FILE));
}

/** The kind of the checkpoint in outDir (undefined when it holds none or it does not read). */
export async function checkpointKind(outDir: string): Promise<string | undefined> {
  if (!hasCheckpoint(outDir)) return undefined;
  try {
    return JSON.parse(await readFile(join(outDir, CHECKPOINT_DIR, TRAINER_FILE), 'utf8')).kind;
  } catch {
    return undefined;
  }
}

export interface LoadedCheckpoint {
  /** The checkpoint directory: the task reads its model files from here. */
  dir: string;
  state: LoopState;
  optimizer: OptimizerState;
  average?: Map<string, StateTensor>;
}

const isCount = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Checks every loop value read back from trainer.json (the task checks its own part). */
function checkState(raw: Record<string, unknown>, kind: TaskKind, bad: (what: string) => never): LoopState {
  if (raw.format !== FORMAT) bad(`format ${JSON.stringify(raw.format)} is not supported (this synthaug reads format ${FORMAT})`);
  if (raw.kind !== kind) bad(`the checkpoint is of a ${JSON.stringify(raw.kind)} run, not ${kind}`);
  const s = raw.settings as Record<string, unknown> | undefined;
  if (!s || typeof s !== 'object') bad('settings are missing');
  const st = s as Record<string, unknown>;
  for (const k of ['seed', 'totalSteps', 'warmupSteps', 'shuffleBuffer'] as const) if (!isCount(st[k])) bad(`settings.${k} must be a non-negative integer`);
  for (const k of ['batchSize', 'microBatch'] as const) if (!isCount(st[k]) || (st[k] as number) < 1) bad(`settings.${k} must be a positive integer`);
  if (st.epochs !== undefined && !isCount(st.epochs)) bad('settings.epochs must be a non-negative integer');
  if (!isNum(st.lr) || !isNum(st.clip) || (st.clip as number) < 0) bad('settings.lr and settings.clip must be numbers (clip ≥ 0)');
  if (st.lrDecay !== 'cosine' && st.lrDecay !== 'constant') bad('settings.lrDecay must be "cosine" or "constant"');
  const o = st.optimizer as Record<string, unknown> | undefined;
  if (!o || (o.optimizer !== 'sgd' && o.optimizer !== 'adamw') || !isNum(o.momentum) || !isNum(o.weightDecay) || typeof o.nesterov !== 'boolean') {
    bad('settings.optimizer must be {optimizer: sgd|adamw, momentum, nesterov, weightDecay}');
  }
  const ema = st.ema as Record<string, unknown> | undefined;
  if (ema !== undefined && (!isNum(ema.decay) || !((ema.decay as number) >= 0 && (ema.decay as number) < 1) || typeof ema.warmup !== 'boolean')) {
    bad('settings.ema must be {decay in [0, 1), warmup: boolean}');
  }
  for (const k of ['step', 'pass', 'consumed', 'skipped'] as const) if (!isCount(raw[k])) bad(`${k} must be a non-negative integer`);
  if ((raw.step as number) > (st.totalSteps as number)) bad(`step ${raw.step} is past the run's ${st.totalSteps} steps`);
  if (raw.passSize !== undefined && !isCount(raw.passSize)) bad('passSize must be a non-negative integer');
  if (!isNum(raw.elapsed) || (raw.elapsed as number) < 0) bad('elapsed must be a non-negative number');
  if (!raw.task || typeof raw.task !== 'object') bad('task state is missing');
  return raw as unknown as LoopState;
}

/** Reads and checks outDir's checkpoint of the given kind; every problem is an InputError naming the file. */
export async function loadCheckpoint(outDir: string, kind: TaskKind): Promise<LoadedCheckpoint> {
  const dir = join(outDir, CHECKPOINT_DIR);
  const statePath = join(dir, TRAINER_FILE);
  const bad = (what: string): never => {
    throw new InputError(`checkpoint ${statePath}: ${what}`);
  };
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(await readFile(statePath, 'utf8'));
  } catch (err) {
    throw new InputError(`cannot read checkpoint ${statePath}: ${(err as Error).message}`);
  }
  if (raw === null || typeof raw !== 'object') bad('not a JSON object');
  const state = checkState(raw, kind, bad);
  const file = await readSafetensors(join(dir, OPTIMIZER_FILE));
  const tensors = new Map<string, StateTensor>();
  for (const [k, t] of file.tensors) tensors.set(k, { shape: t.shape, data: t.data as Float32Array });
  const { optimizer: name = '', ...rest } = file.metadata;
  const scalars = Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, Number(v)]));
  if (name !== state.settings.optimizer.optimizer) bad(`optimizer state is ${JSON.stringify(name)} but the run uses ${state.settings.optimizer.optimizer}`);
  let average: Map<string, StateTensor> | undefined;
  if (state.settings.ema) {
    const avg = await readSafetensors(join(dir, AVERAGE_FILE));
    average = new Map([...avg.tensors].map(([k, t]) => [k, { shape: t.shape, data: t.data as Float32Array }]));
  }
  return { dir, state, optimizer: { name, tensors, scalars }, average };
}

/**
 * Checks the output directory before a run: --resume needs a checkpoint of this kind; a new run refuses
 * a directory holding a checkpoint (it would be overwritten), and a non-empty one holding none (someone
 * else's files) unless `force`.
 */
export async function checkOutputDir(outDir: string, kind: TaskKind, o: { resume?: boolean; force?: boolean }): Promise<void> {
  const here = hasCheckpoint(outDir);
  if (o.resume) {
    if (!here) throw new UsageError(`--resume: ${join(outDir, CHECKPOINT_DIR)} holds no checkpoint`);
    const k = await checkpointKind(outDir);
    if (k !== kind) throw new UsageError(`--resume: the checkpoint in ${outDir} is of a ${JSON.stringify(k)} run, not ${kind}`);
    return;
  }
  if (here) throw new UsageError(`${outDir} already holds a training checkpoint: pass --resume to continue it, or choose another --output`);
  let entries: string[] = [];
  try {
    entries = await readdir(outDir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw new UsageError(`--output ${outDir} is not a directory`);
    if (code !== 'ENOENT') throw err;
  }
  if (entries.length > 0 && !o.force) {
    throw new UsageError(`--output ${outDir} is not empty and holds no training checkpoint: choose an empty or new directory, or pass --force to write into it`);
  }
}

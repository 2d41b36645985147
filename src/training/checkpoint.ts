// Checkpoints for --resume, inside the output classifier directory:
//   <out>/checkpoint/config.json, model.safetensors   the classifier at that step (a classifier directory)
//   <out>/checkpoint/optimizer.safetensors            optimiser state by "<param>.<slot>" (F32)
//   <out>/checkpoint/trainer.json                     recipe, step, data position, normalisation, label names
// Written to <out>/checkpoint.tmp-<pid>, then swapped in by renames, so a crash leaves either the old
// checkpoint or the new one, never a mix. The random state is a function of (seed, step) and (seed,
// pass), so the step and the data position are all that is needed to continue the same random sequence.
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../errors.js';
import { encodeSafetensors, readSafetensors, type NamedTensor } from '../nn/safetensors.js';
import { loadClassifier, saveClassifier } from '../models/store.js';
import type { Classifier } from '../models/classifier.js';
import type { Optimizer, StateTensor } from './optim.js';
import type { Recipe } from './recipe.js';
import type { Normalization } from '../images/tensor.js';

export const CHECKPOINT_DIR = 'checkpoint';

export interface TrainerState {
  format: 1;
  recipe: Recipe;
  /** Optimisation steps done. */
  step: number;
  totalSteps: number;
  /** The pass (epoch) in progress, 0-based, and how many samples of its shuffled order were consumed. */
  pass: number;
  consumed: number;
  /** Examples per pass when known (training by epochs). */
  passSize?: number;
  imageShape: [number, number, number];
  normalization: Normalization;
  classNames: string[];
  /** Seconds of training so far, over all runs. */
  elapsed: number;
}

export async function saveCheckpoint(outDir: string, model: Classifier, optimizer: Optimizer, state: TrainerState, provenance: Record<string, unknown>): Promise<void> {
  const final = join(outDir, CHECKPOINT_DIR);
  const tmp = join(outDir, `${CHECKPOINT_DIR}.tmp-${process.pid}`);
  const old = join(outDir, `${CHECKPOINT_DIR}.old-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  await saveClassifier(tmp, model, { classNames: state.classNames, normalization: state.normalization, provenance });
  const { tensors, scalars } = optimizer.stateDict();
  const named = new Map<string, NamedTensor>();
  for (const [k, t] of tensors) named.set(k, { dtype: 'F32', shape: t.shape, data: t.data });
  const meta = Object.fromEntries(Object.entries(scalars).map(([k, v]) => [k, String(v)]));
  await writeFile(join(tmp, 'optimizer.safetensors'), encodeSafetensors(named, { optimizer: optimizer.name, ...meta }));
  await writeFile(join(tmp, 'trainer.json'), `${JSON.stringify(state, null, 2)}\n`);
  if (existsSync(final)) await rename(final, old);
  await rename(tmp, final);
  await rm(old, { recursive: true, force: true });
}

export interface LoadedCheckpoint {
  model: Classifier;
  state: TrainerState;
  optimizer: { name: string; tensors: Map<string, StateTensor>; scalars: Record<string, number> };
}

export function hasCheckpoint(outDir: string): boolean {
  return existsSync(join(outDir, CHECKPOINT_DIR, 'trainer.json'));
}

export async function loadCheckpoint(outDir: string): Promise<LoadedCheckpoint> {
  const dir = join(outDir, CHECKPOINT_DIR);
  const statePath = join(dir, 'trainer.json');
  let state: TrainerState;
  try {
    state = JSON.parse(await readFile(statePath, 'utf8')) as TrainerState;
  } catch (err) {
    throw new InputError(`cannot read checkpoint ${statePath}: ${(err as Error).message}`);
  }
  if (state.format !== 1) throw new InputError(`checkpoint ${statePath} has unknown format ${JSON.stringify(state.format)}`);
  const { model } = await loadClassifier(dir);
  const file = await readSafetensors(join(dir, 'optimizer.safetensors'));
  const tensors = new Map<string, StateTensor>();
  for (const [k, t] of file.tensors) tensors.set(k, { shape: t.shape, data: t.data as Float32Array });
  const { optimizer: name = '', ...rest } = file.metadata;
  const scalars = Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, Number(v)]));
  return { model, state, optimizer: { name, tensors, scalars } };
}

// Model directories, both kinds: the shared mechanism (atomic writes, config.json reading, weights files
// checked by sha256) and the classifier directory (src/diffusion/model.ts has the diffusion one).
//
// A classifier directory: `config.json` (what to build and how to feed it) + `model.safetensors`
// (the weights, in PyTorch layout and names, see ./torch.ts).
//
// config.json, format 1:
//   kind           "classifier"
//   format         1
//   arch           registry name (resnet20, resnet18, vit, ...)
//   numClasses     number of logits
//   inputShape     [H, W, C] the network takes; images are resized to it before normalisation
//   options        the architecture's options, every default filled in
//   classNames     one name per class index (length numClasses)
//   normalization  {mean: [C], std: [C]}: x = (pixel/255 − mean) / std, per channel, pixels in [0, 1]
//   weights        {file: "model.safetensors", sha256: hex digest of that file, layout: "pytorch"}
//   provenance     free-form: the training command, data, seed, metrics... (written as given)
import { createHash } from 'node:crypto';
import { temporaryName } from '../util/atomic.js';
import { lstat, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { InputError, UsageError, readInputFile } from '../errors.js';
import { encodeSafetensors, decodeSafetensors } from '../nn/safetensors.js';
import type { Classifier, OptionValue } from './classifier.js';
import { createClassifier } from './registry.js';
import { exportTorchState, importTorchState } from './torch.js';
import type { Normalization } from '../images/tensor.js';

export const CONFIG_FILE = 'config.json';
export const WEIGHTS_FILE = 'model.safetensors';
export const CLASSIFIER_FORMAT = 1;

export interface ClassifierDirConfig {
  kind: 'classifier';
  format: number;
  arch: string;
  numClasses: number;
  inputShape: [number, number, number];
  options: Record<string, OptionValue>;
  classNames: string[];
  normalization: Normalization;
  weights: { file: string; sha256: string; layout: 'pytorch' };
  provenance: Record<string, unknown>;
}

export interface ClassifierInfo {
  classNames: string[];
  normalization: Normalization;
  provenance?: Record<string, unknown>;
}

function checkInfo(model: Classifier, info: ClassifierInfo): void {
  const { numClasses, inputShape } = model.config;
  if (info.classNames.length !== numClasses) {
    throw new UsageError(`${info.classNames.length} class names given for a classifier with ${numClasses} classes`);
  }
  const c = inputShape[2];
  const { mean, std } = info.normalization;
  if (mean.length !== c || std.length !== c || !mean.every(Number.isFinite) || !std.every((s) => Number.isFinite(s) && s > 0)) {
    throw new UsageError(`normalization needs ${c} finite means and ${c} positive stds, got mean [${mean}] std [${std}]`);
  }
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

/** Hex sha256 of a file's bytes: the digest config.json records for each weights file. */
export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Writes the files of a model directory atomically, in the order given (config.json last). A new
 * directory is written under a temporary sibling name (mkdir creates it exclusively) and renamed into
 * place; in an existing one (a model being refreshed) each file is written to a temporary name opened
 * with O_EXCL, so a planted symlink is never followed, and renamed over the old file. config.json
 * records the weights' digests, so a reader never pairs a config with half-written or foreign weights
 * without noticing.
 */
export async function writeModelFiles(dir: string, files: ReadonlyArray<readonly [string, Buffer | string]>): Promise<void> {
  if (!(await exists(dir))) {
    await mkdir(dirname(dir), { recursive: true });
    const tmp = temporaryName(dir);
    try {
      await mkdir(tmp);
      for (const [file, data] of files) await writeFile(join(tmp, file), data, { flag: 'wx' });
      await rename(tmp, dir);
      return;
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      // Someone created `dir` meanwhile: fall through to the in-place update.
      if (!(await exists(dir))) throw err;
    }
  }
  if (!(await stat(dir)).isDirectory()) throw new UsageError(`${dir} exists and is not a directory`);
  for (const [file, data] of files) {
    const tmp = temporaryName(join(dir, file));
    try {
      await writeFile(tmp, data, { flag: 'wx' });
      await rename(tmp, join(dir, file));
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }
}

/**
 * Reads a model directory's config.json as a JSON object of the given kind and format; every problem
 * is an InputError naming the path. `bad` makes more such errors for the caller's own checks.
 */
export async function readModelConfig(
  dir: string,
  kind: 'classifier' | 'diffusion',
  format: number,
): Promise<{ raw: Record<string, unknown>; path: string; bad: (what: string) => never }> {
  const path = join(dir, CONFIG_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(code === 'ENOENT' || code === 'ENOTDIR' ? `${dir} is not a model directory: ${path} does not exist` : `cannot read ${path}: ${(err as Error).message}`);
  }
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text);
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error('not a JSON object');
  } catch (err) {
    throw new InputError(`${path}: not valid JSON (${(err as Error).message})`);
  }
  const bad = (what: string): never => {
    throw new InputError(`${path}: ${what}`);
  };
  if (raw.kind !== kind) bad(`kind is ${JSON.stringify(raw.kind)}, expected "${kind}"`);
  if (raw.format !== format) bad(`format ${JSON.stringify(raw.format)} is not supported (this synthaug reads format ${format})`);
  return { raw, path, bad };
}

/** A plain file name inside the model directory (no path separators, not . or ..). */
export function isFileName(v: unknown): v is string {
  return typeof v === 'string' && v !== '' && v !== '.' && v !== '..' && !v.includes('/') && !v.includes('\\');
}

/** Reads a weights file of `dir` and checks it against the sha256 config.json recorded (when it did). */
export async function readWeightsFile(dir: string, ref: { file: string; sha256?: string }): Promise<{ buf: Buffer; path: string; sha256: string }> {
  const path = join(dir, ref.file);
  const buf = await readInputFile(path, 'weights file');
  const sha256 = sha256Hex(buf);
  if (ref.sha256 && sha256 !== ref.sha256) {
    throw new InputError(`${path}: the file does not match the sha256 recorded in ${join(dir, CONFIG_FILE)} (damaged, or replaced after saving)`);
  }
  return { buf, path, sha256 };
}

/** The files of a classifier directory, config.json last. */
export function classifierFiles(model: Classifier, info: ClassifierInfo): Array<[string, Buffer | string]> {
  checkInfo(model, info);
  const weights = encodeSafetensors(exportTorchState(model), { format: 'pt', arch: model.config.arch, producer: 'synthaug' });
  const config: ClassifierDirConfig = {
    kind: 'classifier',
    format: CLASSIFIER_FORMAT,
    arch: model.config.arch,
    numClasses: model.config.numClasses,
    inputShape: model.config.inputShape,
    options: model.config.options ?? {},
    classNames: info.classNames,
    normalization: { mean: info.normalization.mean, std: info.normalization.std },
    weights: { file: WEIGHTS_FILE, sha256: sha256Hex(weights), layout: 'pytorch' },
    provenance: info.provenance ?? {},
  };
  return [
    [WEIGHTS_FILE, weights],
    [CONFIG_FILE, JSON.stringify(config, null, 2) + '\n'],
  ];
}

/** Writes a classifier directory (see writeModelFiles). */
export async function saveClassifier(dir: string, model: Classifier, info: ClassifierInfo): Promise<void> {
  await writeModelFiles(dir, classifierFiles(model, info));
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === 'string');
}

function isNumberArray(v: unknown, n: number): v is number[] {
  return Array.isArray(v) && v.length === n && v.every((x) => typeof x === 'number' && Number.isFinite(x));
}

/** Reads and checks a classifier directory's config.json; every problem is an InputError naming the path. */
export async function readClassifierConfig(dir: string): Promise<ClassifierDirConfig> {
  const { raw, bad } = await readModelConfig(dir, 'classifier', CLASSIFIER_FORMAT);
  if (typeof raw.arch !== 'string') bad('arch is missing');
  if (!Number.isInteger(raw.numClasses) || (raw.numClasses as number) < 1) bad('numClasses must be a positive integer');
  const shape = raw.inputShape;
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((d) => Number.isInteger(d) && d > 0)) bad('inputShape must be [H, W, C]');
  const options = raw.options ?? {};
  if (typeof options !== 'object' || Array.isArray(options)) bad('options must be an object');
  if (!isStringArray(raw.classNames) || raw.classNames.length !== raw.numClasses) bad(`classNames must list ${raw.numClasses} names`);
  const norm = raw.normalization as Normalization | undefined;
  const c = (shape as number[])[2];
  if (!norm || !isNumberArray(norm.mean, c) || !isNumberArray(norm.std, c) || !norm.std.every((s) => s > 0)) {
    bad(`normalization must be {mean: [${c} numbers], std: [${c} positive numbers]}`);
  }
  const weights = (raw.weights ?? { file: WEIGHTS_FILE }) as ClassifierDirConfig['weights'];
  if (!isFileName(weights.file)) bad('weights.file must be a file name in the directory');
  return {
    ...(raw as unknown as ClassifierDirConfig),
    options: options as Record<string, OptionValue>,
    weights,
    provenance: (raw.provenance ?? {}) as Record<string, unknown>,
  };
}

export async function loadClassifier(dir: string): Promise<{ model: Classifier; config: ClassifierDirConfig }> {
  const config = await readClassifierConfig(dir);
  const { buf, path } = await readWeightsFile(dir, config.weights);
  const { tensors } = decodeSafetensors(buf, path);
  let model: Classifier;
  try {
    model = createClassifier({ arch: config.arch, numClasses: config.numClasses, inputShape: config.inputShape, options: config.options }, 0);
  } catch (err) {
    throw new InputError(`${join(dir, CONFIG_FILE)}: ${(err as Error).message}`);
  }
  try {
    importTorchState(model, tensors, path);
  } catch (err) {
    model.dispose();
    throw err;
  }
  return { model, config };
}

// Command-line options of the training recipe, shared by `train-classifier` and `cas` (so both train
// with the same recipe), and their validation into a RecipeInput and TrainOptions.
import type { Argv } from 'yargs';
import { UsageError, invalidParameterError } from '../errors.js';
import { byteSize, imageSize, nonNegativeInt, nonNegativeNumber, oneOf, positiveInt, positiveNumber } from '../options.js';
import { RESIZE_POLICIES, type ResizePolicy } from '../images/codec.js';
import { listArchitectures } from '../models/registry.js';
import type { OptionValue } from '../models/classifier.js';
import { checkStdinOnce, openSource, readsStdin, type Sample, type SourceOptions } from '../shards/index.js';
import { PAD_MODES, type PadMode } from './augment.js';
import { replayable, type SampleSource } from './data.js';
import type { RecipeInput } from './recipe.js';
import type { TrainOptions } from './trainer.js';

export interface RecipeArgs {
  arch: string;
  'arch-option'?: string[];
  epochs: number;
  steps?: number;
  'batch-size': number;
  optimizer: string;
  lr: string;
  momentum: number;
  nesterov: boolean;
  'weight-decay': string;
  warmup: string;
  'label-smoothing': number;
  flip: boolean;
  'crop-padding': string;
  'pad-mode': string;
  mixup: number;
  'image-size'?: string;
  channels?: number;
  resize: string;
  'num-classes'?: number;
  seed: number;
  'shuffle-buffer': number;
  'stdin-limit': string;
  'save-every': number;
  'log-every': number;
  'eval-batch-size': number;
  'skip-bad': boolean;
  json: boolean;
}

/**
 * The recipe options (every one with a description and, where it has one, its default). Unknown
 * options are parsed as positionals, as for every command reading sources (yargs would otherwise drop
 * a '-' source); rejectUnknownOptions (options.ts) refuses the ones that look like options.
 */
export function recipeArgs<T>(y: Argv<T>): Argv<T & RecipeArgs> {
  return y
    .parserConfiguration({ 'unknown-options-as-args': true })
    .option('arch', { type: 'string', default: 'resnet20', describe: `Architecture: ${listArchitectures().map((a) => a.name).join(', ')}` })
    .option('arch-option', { type: 'string', array: true, describe: 'Architecture option KEY=VALUE, repeatable (e.g. width=32, patch=4, depth=6)' })
    .option('epochs', { type: 'number', default: 30, describe: 'Passes over finite training data (the cosine schedule spans them all)' })
    .option('steps', { type: 'number', describe: 'Train for this many steps instead of --epochs (needed for endless streams; finite data is re-read as needed)' })
    .option('batch-size', { type: 'number', default: 128, describe: 'Images per optimisation step' })
    .option('optimizer', { type: 'string', choices: ['auto', 'sgd', 'adamw'], default: 'auto', describe: 'auto: adamw for vit, sgd (momentum) otherwise' })
    .option('lr', { type: 'string', default: 'auto', describe: 'Peak learning rate (auto: 0.1 for sgd, 1e-3 for adamw)' })
    .option('momentum', { type: 'number', default: 0.9, describe: 'SGD momentum' })
    .option('nesterov', { type: 'boolean', default: false, describe: 'Nesterov momentum (sgd)' })
    .option('weight-decay', {
      type: 'string',
      default: 'auto',
      describe: 'Weight decay, not applied to biases, norm layers and ViT embeddings (auto: 5e-4 L2 for sgd, 0.05 decoupled for adamw)',
    })
    .option('warmup', { type: 'string', default: 'auto', describe: 'Linear warmup steps before the cosine decay (auto: 0 for sgd, 5% of the steps for adamw)' })
    .option('label-smoothing', { type: 'number', default: 0, describe: 'Label smoothing ε: targets (1−ε)·onehot + ε/K' })
    .option('flip', { type: 'boolean', default: false, describe: 'Random horizontal flips (off by default for digits and text; use it for clothes and natural images)' })
    .option('crop-padding', { type: 'string', default: 'auto', describe: 'Random crop after padding each side by N pixels, 0 = off (auto: round(min(H, W) / 8), 4 for 28 and 32 px)' })
    .option('pad-mode', { type: 'string', choices: PAD_MODES as string[], default: 'zero', describe: 'Crop padding: zero (black) or reflect' })
    .option('mixup', { type: 'number', default: 0, describe: 'mixup with λ ~ Beta(α, α) per batch; 0 = off (0.2 is a common α)' })
    .option('image-size', { type: 'string', describe: 'Network input size, N or WxH (default: the first training image\'s size)' })
    .option('channels', { type: 'number', choices: [1, 3], describe: 'Network input channels (default: the first training image\'s: gray 1, colour 3)' })
    .option('resize', {
      type: 'string',
      choices: RESIZE_POLICIES as string[],
      default: 'none',
      describe: 'How images of another size reach the input size: none (an error), stretch, center-crop, pad',
    })
    .option('num-classes', { type: 'number', describe: 'At least this many classes (default: the largest label seen + 1)' })
    .option('seed', { type: 'number', default: 0, describe: 'Seed of the weights, shuffle and augmentation: same seed and data → same weights' })
    .option('shuffle-buffer', { type: 'number', default: 10000, describe: 'Samples held by the seeded shuffle buffer (0 = data order)' })
    .option('stdin-limit', {
      type: 'string',
      default: '1G',
      describe: 'Memory kept for stdin so that later epochs can re-read it (encoded samples; an endless stream fills it, then streams on)',
    })
    .option('save-every', { type: 'number', default: 0, describe: 'Checkpoint (and evaluate --val) every N steps (0: every epoch; with --steps only at the end)' })
    .option('log-every', { type: 'number', default: 0, describe: 'A progress line and log.jsonl record every N steps (0: every epoch; with --steps every 100)' })
    .option('eval-batch-size', { type: 'number', default: 256, describe: 'Images per evaluation batch' })
    .option('json', { type: 'boolean', default: false, describe: 'Print the result as one JSON object' }) as unknown as Argv<T & RecipeArgs>;
}

/** "auto" or a number checked by `check`. */
function autoOr(name: string, value: unknown, check: (name: string, v: unknown) => number): number | 'auto' {
  return value === 'auto' || value === undefined ? 'auto' : check(name, value);
}

/** "KEY=VALUE" strings → architecture options (numbers and booleans parsed; checked by the registry). */
export function archOptions(values: string[] | undefined): Record<string, OptionValue> {
  const out: Record<string, OptionValue> = {};
  for (const item of values ?? []) {
    const m = /^([A-Za-z][A-Za-z0-9_]*)=(.+)$/.exec(item);
    if (!m) throw invalidParameterError('arch-option', 'KEY=VALUE', item);
    const raw = m[2];
    out[m[1]] = raw === 'true' ? true : raw === 'false' ? false : Number.isFinite(Number(raw)) ? Number(raw) : raw;
  }
  return out;
}

export function recipeFrom(a: RecipeArgs): RecipeInput {
  const steps = a.steps === undefined ? undefined : positiveInt('steps', a.steps);
  return {
    arch: a.arch,
    archOptions: archOptions(a['arch-option']),
    epochs: steps === undefined ? positiveInt('epochs', a.epochs) : undefined,
    steps,
    batchSize: positiveInt('batch-size', a['batch-size']),
    optimizer: oneOf('optimizer', ['auto', 'sgd', 'adamw'] as const, a.optimizer),
    lr: autoOr('lr', a.lr, positiveNumber),
    momentum: nonNegativeNumber('momentum', a.momentum),
    nesterov: Boolean(a.nesterov),
    weightDecay: autoOr('weight-decay', a['weight-decay'], nonNegativeNumber),
    warmup: autoOr('warmup', a.warmup, nonNegativeInt),
    labelSmoothing: smoothing(a['label-smoothing']),
    flip: Boolean(a.flip),
    cropPadding: autoOr('crop-padding', a['crop-padding'], nonNegativeInt),
    padMode: oneOf<PadMode>('pad-mode', PAD_MODES, a['pad-mode']),
    mixup: nonNegativeNumber('mixup', a.mixup),
    seed: nonNegativeInt('seed', a.seed),
    shuffleBuffer: nonNegativeInt('shuffle-buffer', a['shuffle-buffer']),
  };
}

function smoothing(v: unknown): number {
  const n = Number(v);
  if (!(Number.isFinite(n) && n >= 0 && n < 1)) throw invalidParameterError('label-smoothing', 'a number in [0, 1)', v);
  return n;
}

/** The data-side TrainOptions from the parsed options (everything but sources, output and recipe). */
export function dataOptionsFrom(a: RecipeArgs): Pick<TrainOptions, 'height' | 'width' | 'channels' | 'resize' | 'numClasses' | 'skipBad' | 'saveEvery' | 'logEvery' | 'evalBatchSize'> {
  const size = a['image-size'] === undefined ? undefined : imageSize('image-size', a['image-size']);
  return {
    height: size?.height,
    width: size?.width,
    channels: a.channels === undefined ? undefined : (Number(oneOf('channels', ['1', '3'], String(a.channels))) as 1 | 3),
    resize: oneOf<ResizePolicy>('resize', RESIZE_POLICIES, a.resize),
    numClasses: a['num-classes'] === undefined ? undefined : positiveInt('num-classes', a['num-classes']),
    skipBad: Boolean(a['skip-bad']),
    saveEvery: nonNegativeInt('save-every', a['save-every']),
    logEvery: nonNegativeInt('log-every', a['log-every']),
    evalBatchSize: positiveInt('eval-batch-size', a['eval-batch-size']),
  };
}

/**
 * A re-openable source over source specs. Files, patterns and pipe: commands are opened afresh for
 * every pass; a spec that reads stdin is recorded on first read and replayed (up to `replayLimit` bytes).
 * The source options (skipBad, maxMemberSize, ...) go to openSource for every pass.
 */
export function sampleSource(specs: string[], opts: SourceOptions & { replayLimit: number }): SampleSource {
  if (specs.length === 0) throw new UsageError('name the training data: shard files, patterns, directories, pipe:COMMAND or - for stdin');
  checkStdinOnce(specs);
  const { replayLimit, ...options } = opts;
  const parts: SampleSource[] = [];
  let files: string[] = [];
  const flush = () => {
    if (files.length === 0) return;
    const group = files;
    openSource(group, options); // checks the specs now (usage errors before any work)
    parts.push(() => openSource(group, options));
    files = [];
  };
  for (const spec of specs) {
    if (readsStdin(spec)) {
      flush();
      parts.push(replayable(openSource([spec], options), replayLimit, spec));
    } else files.push(spec);
  }
  flush();
  if (parts.length === 1) return parts[0];
  return () =>
    (async function* (): AsyncGenerator<Sample> {
      for (const p of parts) yield* p();
    })();
}

export function replayLimitFrom(a: RecipeArgs): number {
  return byteSize('stdin-limit', a['stdin-limit']);
}

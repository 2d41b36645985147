// synthaug finetune: train a class-conditional diffusion model (EDM-preconditioned U-Net) on shards, from
// scratch or from --init DIR, into a diffusion model directory. TensorFlow.js and the models load when
// this command is chosen (builder) or run (handler), never at start-up.
import type { Argv, CommandModule } from 'yargs';
import { UsageError, invalidParameterError } from '../errors.js';
import type { BackendChoice } from '../backend/index.js';
import { debug, warn } from '../log.js';
import { byteSize, duration, nonNegativeInt, nonNegativeNumber, oneOf, positiveInt, positiveNumber, rejectUnknownOptions } from '../options.js';
import { RESIZE_POLICIES, type ResizePolicy } from '../images/codec.js';
import { limitArgs, limitsFrom, writeStdout, type LimitArgs } from './common.js';

interface FinetuneArgs extends LimitArgs {
  sources: string[];
  output?: string;
  arch: string;
  'arch-option'?: string[];
  init?: string;
  unconditional: boolean;
  resume: boolean;
  force: boolean;
  'max-steps'?: number;
  epochs?: number;
  'batch-size': number;
  'micro-batch': number;
  lr: number;
  warmup: number;
  'weight-decay': number;
  clip: number;
  ema: number;
  seed: number;
  'shuffle-buffer': number;
  resize: string;
  'save-every': number;
  'log-every': number;
  'time-budget'?: string;
  'stdin-limit': string;
  'skip-bad': boolean;
  json: boolean;
  backend: BackendChoice;
}

export const finetuneCommand: CommandModule<object, FinetuneArgs> = {
  command: 'finetune [sources..]',
  describe: 'Train a class-conditional diffusion model (EDM, U-Net) on shards into a model directory, from scratch or --init DIR',
  builder: async (y: Argv) => {
    const { backendOption } = await import('../backend/cli.js');
    return limitArgs(backendOption(y))
      .parserConfiguration({ 'unknown-options-as-args': true })
      .positional('sources', { type: 'string', array: true, default: [] as string[], describe: 'Training data: tar files, patterns, directories, pipe:COMMAND, or - for stdin' })
      .option('output', { alias: 'o', type: 'string', describe: 'The diffusion model directory to write' })
      .option('arch', { type: 'string', default: 'unet', describe: 'Architecture (unet)' })
      .option('arch-option', {
        type: 'string',
        array: true,
        describe: 'KEY=VALUE, repeatable: preset=fmnist (28x28x1, 1.5M parameters) or preset=cifar (32x32x3), then baseChannels, channelMult=1,2,2, numResBlocks, attentionHeads, dropout, groups, imageSize, inChannels',
      })
      .option('init', { type: 'string', describe: 'Start from this diffusion model directory (its EMA weights); the class table is rebuilt by class name' })
      .option('unconditional', { type: 'boolean', default: false, describe: 'Ignore the labels: train only the null (unconditional) class' })
      .option('resume', { type: 'boolean', default: false, describe: 'Continue the checkpoint in --output exactly (same settings, optimiser state and random position)' })
      .option('force', { type: 'boolean', default: false, describe: 'Write into a non-empty --output that holds no checkpoint' })
      .option('max-steps', { type: 'number', describe: 'Optimisation steps to train (or --epochs)' })
      .option('epochs', { type: 'number', describe: 'Passes over the data (counted first); default 1 when --max-steps is not given' })
      .option('batch-size', { type: 'number', default: 64, describe: 'Images per optimisation step' })
      .option('micro-batch', {
        type: 'number',
        default: 16,
        describe:
          'Images per forward/backward pass; gradients are summed over the micro-batches of a step. Bounded by memory: on wasm and native one pass must fit the 4 GB WASM heap (preset=fmnist: at most about 96 images)',
      })
      .option('lr', { type: 'number', default: 3e-4, describe: 'AdamW learning rate after the warmup (constant)' })
      .option('warmup', { type: 'number', default: 200, describe: 'Linear learning-rate warmup steps (at most a tenth of the run)' })
      .option('weight-decay', { type: 'number', default: 0, describe: 'AdamW decoupled weight decay' })
      .option('clip', { type: 'number', default: 1, describe: 'Clip the gradient to this global L2 norm (0: off)' })
      .option('ema', { type: 'number', default: 0.999, describe: 'Decay of the exponential moving average of the weights (with warmup); `sample` uses the average' })
      .option('seed', { type: 'number', default: 0, describe: 'Seed of the weights, shuffle, noise and label dropout: same seed and data → same weights' })
      .option('shuffle-buffer', { type: 'number', default: 10000, describe: 'Samples held by the seeded shuffle buffer (0 = data order)' })
      .option('resize', {
        type: 'string',
        choices: RESIZE_POLICIES as string[],
        default: 'none',
        describe: 'How images of another size or channel count reach the model: none (an error), stretch, center-crop, pad',
      })
      .option('save-every', { type: 'number', default: 0, describe: 'Checkpoint every N steps (0: only at the end, and every epoch with --epochs)' })
      .option('log-every', { type: 'number', default: 0, describe: 'A progress line and log.jsonl record every N steps (0: every min(100, steps))' })
      .option('time-budget', { type: 'string', describe: 'Stop cleanly, checkpoint saved, after this long: 2h, 90m, 1h30m (continue with --resume)' })
      .option('stdin-limit', { type: 'string', default: '1G', describe: 'Memory kept for stdin so that later passes can re-read it' })
      .option('json', { type: 'boolean', default: false, describe: 'Print a JSON summary on stdout' })
      .example('$0 finetune train.tar -o fm --arch-option preset=fmnist --max-steps 4000 --time-budget 2h', 'Fashion-MNIST from scratch')
      .example('$0 finetune few.tar -o fm-few --init fm-pretrained --max-steps 1000', 'fine-tune a model pretrained without labels') as unknown as Argv<FinetuneArgs>;
  },
  handler: async (args) => {
    const { archOptions, sampleSource } = await import('../training/args.js');
    const { initBackend, HeapExhausted } = await import('../backend/index.js');
    const { finetune } = await import('../training/diffusion.js');
    rejectUnknownOptions(args.sources ?? []);
    if (args.output === undefined) throw new UsageError('name the diffusion model directory to write with -o/--output');
    oneOf('arch', ['unet'], args.arch);
    if (args['max-steps'] !== undefined && args.epochs !== undefined) throw new UsageError('give --max-steps or --epochs, not both');
    if (args.init !== undefined && args.resume) throw new UsageError('--init starts a new run; --resume continues one: not both');
    const batchSize = positiveInt('batch-size', args['batch-size']);
    const limits = limitsFrom(args);
    const options = {
      archOptions: archOptions(args['arch-option']),
      init: args.init,
      unconditional: Boolean(args.unconditional),
      maxSteps: args['max-steps'] === undefined ? undefined : positiveInt('max-steps', args['max-steps']),
      epochs: args.epochs === undefined ? undefined : positiveInt('epochs', args.epochs),
      batchSize,
      microBatch: positiveInt('micro-batch', args['micro-batch']),
      lr: positiveNumber('lr', args.lr),
      warmup: nonNegativeInt('warmup', args.warmup),
      weightDecay: nonNegativeNumber('weight-decay', args['weight-decay']),
      clip: nonNegativeNumber('clip', args.clip),
      ema: emaDecay(args.ema),
      seed: nonNegativeInt('seed', args.seed),
      shuffleBuffer: nonNegativeInt('shuffle-buffer', args['shuffle-buffer']),
      resize: oneOf<ResizePolicy>('resize', RESIZE_POLICIES, args.resize),
      saveEvery: nonNegativeInt('save-every', args['save-every']),
      logEvery: nonNegativeInt('log-every', args['log-every']),
      timeBudget: args['time-budget'] === undefined ? undefined : duration('time-budget', args['time-budget']),
      skipBad: Boolean(args['skip-bad']),
      maxClasses: limits.maxClasses,
      maxPixels: limits.maxPixels,
    };
    const source = sampleSource(args.sources, { skipBad: options.skipBad, replayLimit: byteSize('stdin-limit', args['stdin-limit']), ...limits });
    const info = await initBackend(args.backend);
    debug(`backend ${info.name}`);
    const r = await finetune({
      ...options,
      source,
      outDir: args.output,
      resume: args.resume,
      force: args.force,
      provenance: { command: ['synthaug', ...process.argv.slice(2)].join(' '), backend: info.kind },
    }).catch((err: unknown) => {
      if (!(err instanceof HeapExhausted)) throw err;
      const micro = Math.min(options.batchSize, options.microBatch);
      throw new UsageError(`a forward/backward pass of ${micro} images does not fit: ${err.message}; use a smaller --micro-batch (e.g. ${Math.max(1, micro >> 1)})`);
    });
    const how = r.stopped === 'time' ? ' (time budget used; continue with --resume)' : '';
    warn(
      `trained ${r.steps} steps${how}: ${r.parameters} parameters, ${r.imagesPerSec.toFixed(1)} images/s, peak RSS ${Math.round(r.peakRssMB)} MiB, ` +
        `${r.skipped} non-finite steps skipped, backend ${info.kind} → ${args.output}`,
    );
    if (args.json) {
      await writeStdout(`${JSON.stringify({ output: args.output, steps: r.steps, stopped: r.stopped, parameters: r.parameters, imagesPerSec: r.imagesPerSec, peakRssMB: r.peakRssMB, skipped: r.skipped, classNames: r.classNames })}\n`);
    }
  },
};

function emaDecay(v: unknown): number {
  const n = Number(v);
  if (!(Number.isFinite(n) && n >= 0 && n < 1)) throw invalidParameterError('ema', 'a number in [0, 1)', v);
  return n;
}

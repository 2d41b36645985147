// synthaug train-classifier: train a classifier on labelled shards (or stdin, so that `mix` can feed
// it) into a classifier directory, evaluating on --val; or, with --evaluate DIR, only evaluate.
// TensorFlow.js and the models load when this command is chosen (builder) or run (handler), never
// at start-up.
import type { Argv, CommandModule } from 'yargs';
import { UsageError } from '../errors.js';
import type { BackendChoice } from '../backend/index.js';
import { debug, formatDuration, warn } from '../log.js';
import { formatMetricsLine } from '../metrics/classification.js';
import type { RecipeArgs } from '../training/args.js';
import { rejectUnknownOptions } from '../options.js';
import { checkStdinOnce } from '../shards/index.js';
import { limitArgs, limitsFrom, writeStdout, type LimitArgs } from './common.js';
import { duration } from '../options.js';

interface TrainArgs extends RecipeArgs, LimitArgs {
  sources: string[];
  val?: string;
  output?: string;
  resume: boolean;
  force: boolean;
  'time-budget'?: string;
  evaluate?: string;
  backend: BackendChoice;
}

export const trainClassifierCommand: CommandModule<object, TrainArgs> = {
  command: 'train-classifier [sources..]',
  describe: 'Train a classifier on labelled shards into a classifier directory; evaluate on --val (or --evaluate an existing one)',
  builder: async (y: Argv) => {
    const [{ backendOption }, { recipeArgs }] = await Promise.all([import('../backend/cli.js'), import('../training/args.js')]);
    return limitArgs(backendOption(recipeArgs(y)))
      .positional('sources', {
        type: 'string',
        array: true,
        default: [] as string[],
        describe: "Training data: tar files, patterns, directories, pipe:COMMAND, or - for stdin (e.g. from `synthaug mix`)",
      })
      .option('val', { type: 'string', describe: "Validation shards (a file, pattern or 'a.tar::b.tar' list), evaluated every epoch and at the end" })
      .option('output', { alias: 'o', type: 'string', describe: 'The classifier directory to write (required for training; with --evaluate, where metrics.json goes)' })
      .option('resume', { type: 'boolean', default: false, describe: 'Continue from the checkpoint in --output (same recipe, optimizer state and random position)' })
      .option('force', { type: 'boolean', default: false, describe: 'Write into a non-empty --output that holds no checkpoint' })
      .option('time-budget', { type: 'string', describe: 'Stop cleanly (checkpoint saved) after this long, e.g. 2h, 90m (continue with --resume)' })
      .option('evaluate', { type: 'string', describe: 'Only evaluate this classifier directory on --val (or on the sources)' })
      .example('$0 train-classifier train.tar --val test.tar -o clf --flip', 'ResNet-20, 30 epochs, batch 128')
      .example('$0 mix real.tar gen.tar --weights 1,1 | $0 train-classifier - --steps 5000 -o clf', 'train on a mixed stream')
      .example('$0 train-classifier --evaluate clf --val test.tar --json', 'evaluate only') as unknown as Argv<TrainArgs>;
  },
  handler: async (args) => {
    const { dataOptionsFrom, recipeFrom, replayLimitFrom, sampleSource } = await import('../training/args.js');
    const { initBackend } = await import('../backend/index.js');
    rejectUnknownOptions(args.sources ?? []);
    checkStdinOnce([...(args.sources ?? []), ...(args.val === undefined ? [] : [args.val])]);
    const recipe = recipeFrom(args);
    const data = dataOptionsFrom(args);
    const replayLimit = replayLimitFrom(args);
    const limits = limitsFrom(args);
    const valSource = args.val === undefined ? undefined : sampleSource([args.val], { skipBad: data.skipBad, replayLimit, ...limits });

    if (args.evaluate !== undefined) {
      if (args.resume) throw new UsageError('--evaluate and --resume do not go together');
      const evalSource = valSource ?? (args.sources.length > 0 ? sampleSource(args.sources, { skipBad: data.skipBad, replayLimit, ...limits }) : undefined);
      if (!evalSource) throw new UsageError('--evaluate needs data: --val SHARDS (or sources)');
      if (valSource && args.sources.length > 0) throw new UsageError('--evaluate reads --val or the sources, not both');
      const info = await initBackend(args.backend);
      debug(`backend ${info.name}`);
      const { evaluateClassifierDir } = await import('../training/evaluate.js');
      const metrics = await evaluateClassifierDir(args.evaluate, evalSource, {
        resize: data.resize,
        skipBad: data.skipBad,
        maxClasses: limits.maxClasses,
        maxPixels: limits.maxPixels,
        batchSize: data.evalBatchSize,
        outDir: args.output,
      });
      await writeStdout(args.json ? `${JSON.stringify(metrics)}\n` : `${formatMetricsLine(metrics)}\n`);
      return;
    }

    if (args.output === undefined) throw new UsageError('name the classifier directory to write with -o/--output');
    const source = sampleSource(args.sources, { skipBad: data.skipBad, replayLimit, ...limits });
    const info = await initBackend(args.backend);
    debug(`backend ${info.name}`);
    const { HeapExhausted } = await import('../backend/index.js');
    const { train } = await import('../training/trainer.js');
    const started = performance.now();
    const result = await train({
      ...data,
      maxClasses: limits.maxClasses,
      maxPixels: limits.maxPixels,
      source,
      val: valSource,
      recipe,
      outDir: args.output,
      resume: args.resume,
      force: args.force,
      timeBudget: args['time-budget'] === undefined ? undefined : duration('time-budget', args['time-budget']),
      provenance: { command: ['synthaug', ...process.argv.slice(2)].join(' '), backend: info.kind },
    }).catch((err: unknown) => {
      if (!(err instanceof HeapExhausted)) throw err;
      // A classifier step is one pass over the whole batch (BatchNorm's statistics are per batch).
      throw new UsageError(`a forward/backward pass of ${recipe.batchSize} images does not fit: ${err.message}; use a smaller --batch-size`);
    });
    result.model.dispose();
    const secs = (performance.now() - started) / 1000;
    warn(`trained ${result.steps} steps in ${formatDuration(secs)} (${result.imagesPerSec.toFixed(1)} images/s, backend ${info.kind}) → ${args.output}`);
    if (result.metrics) {
      await writeStdout(args.json ? `${JSON.stringify(result.metrics)}\n` : `${formatMetricsLine(result.metrics)}\n`);
    } else if (args.json) {
      await writeStdout(`${JSON.stringify({ output: args.output, steps: result.steps, imagesPerSec: result.imagesPerSec })}\n`);
    }
  },
};

// synthaug mix: one shard stream from several sources, drawn by weight, rekeyed, optionally shuffled.
import type { Argv, CommandModule } from 'yargs';
import { UsageError, invalidParameterError } from '../errors.js';
import { warn } from '../log.js';
import { numberList, nonNegativeInt, oneOf, positiveInt } from '../options.js';
import { expandSources, openSource, writeSink, type Sample } from '../shards/index.js';
import { STOP_RULES, mix, type MixInput, type StopRule } from '../stages/mix.js';
import { shuffle } from '../stages/shuffle.js';
import { take } from '../stages/take.js';
import { Rng } from '../util/rng.js';
import { sinkArgs, sinkOptionsFrom, sourceArgs, sourceOptionsFrom, type SinkArgs, type SourceArgs } from './common.js';

interface MixArgs extends SourceArgs, SinkArgs {
  weights?: string;
  'shuffle-buffer': number;
  seed: number;
  count?: number;
  epochs: number;
  stop: string;
}

export const mixCommand: CommandModule<object, MixArgs> = {
  command: 'mix <sources..>',
  describe: 'Mix several shard sources into one stream by weight (each source is one positional; - is stdin)',
  builder: (y: Argv) =>
    sinkArgs(sourceArgs(y))
      .positional('sources', {
        type: 'string',
        array: true,
        demandOption: true,
        describe: "Sources to mix, one per positional (a positional may itself be a brace pattern or an a.tar::b.tar list, read as one source); '-' is stdin",
      })
      .option('weights', {
        type: 'string',
        describe: 'Sampling weights, one per source, comma-separated, normalised over the sources still running (default: all equal)',
      })
      .option('stop', {
        type: 'string',
        choices: STOP_RULES as string[],
        default: 'all',
        describe:
          'first: end after the last sample of the first source to finish; all: finished sources drop out, weights renormalised, until all finish; ' +
          'resample: finished sources restart (not stdin) until every source has finished --epochs passes',
      })
      .option('epochs', { type: 'number', default: 1, describe: 'Full passes over each source (more than 1 re-reads sources; not stdin)' })
      .option('count', { type: 'number', describe: 'Stop after this many samples (default: when the --stop rule ends the mix)' })
      .option('shuffle-buffer', { type: 'number', default: 0, describe: 'Shuffle the mixed stream through a buffer of this many samples (0 = off)' })
      .option('seed', { type: 'number', default: 0, describe: 'Seed of the source choices and the shuffle' })
      .example('$0 mix real.tar synth-{000000..000009}.tar --weights 1,1 > mixed.tar', '')
      .example('$0 pack photos/ --size 28 --channels 1 | $0 mix real.tar - --weights 2,1 --shuffle-buffer 1000 -o mix-%06d.tar --max-count 10000', '')
      .example('$0 mix small.tar large.tar --stop resample --count 50000 > balanced.tar', '') as unknown as Argv<MixArgs>,
  handler: async (args) => {
    const sink = sinkOptionsFrom(args);
    const source = sourceOptionsFrom(args);
    const specs = args.sources ?? [];
    if (specs.length === 0) throw new UsageError('name the sources to mix');
    const stop = oneOf<StopRule>('stop', STOP_RULES, args.stop);
    const epochs = positiveInt('epochs', args.epochs);
    const seed = nonNegativeInt('seed', args.seed);
    const buffer = nonNegativeInt('shuffle-buffer', args['shuffle-buffer']);
    const count = args.count === undefined ? undefined : positiveInt('count', args.count);
    const weights = args.weights === undefined ? specs.map(() => 1) : numberList('weights', args.weights);
    if (weights.length !== specs.length || weights.some((w) => w <= 0)) {
      throw invalidParameterError('weights', `${specs.length} positive numbers (one per source)`, args.weights);
    }
    const readsStdin = specs.map((spec) => expandSources([spec]).includes('-'));
    if (readsStdin.filter(Boolean).length > 1) throw new UsageError('stdin (-) can be read only once');
    if (readsStdin.some(Boolean) && (stop === 'resample' || epochs > 1)) {
      throw new UsageError(`stdin (-) cannot be re-read: --stop resample and --epochs > 1 need sources that can be re-opened (files, pipe:)`);
    }

    const inputs: MixInput[] = specs.map((spec, i) => ({ spec, reopenable: !readsStdin[i], open: () => openSource([spec], source) }));
    const rng = new Rng(seed);
    const [mixSeed, shuffleSeed] = [rng.nextU32(), rng.nextU32()];
    let samples: AsyncIterable<Sample> = mix(inputs, { weights, seed: mixSeed, stop, epochs, onEmpty: (spec) => warn(`mix: source ${spec} has no samples`) });
    samples = shuffle({ buffer, seed: shuffleSeed })(samples);
    if (count !== undefined) samples = take(count)(samples);
    await writeSink(samples, sink);
  },
};

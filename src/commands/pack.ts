// synthaug pack: labelled shards (png, cls, json) from ImageFolder directories (or any shard source)
// or from a built-in dataset.
import type { Argv, CommandModule } from 'yargs';
import { UsageError, invalidParameterError } from '../errors.js';
import { DATASET_NAMES, datasets } from '../datasets/index.js';
import { RESIZE_POLICIES, type PartialDecodeSpec, type ResizePolicy } from '../images/codec.js';
import { imageSize, nonNegativeInt, oneOf, positiveInt } from '../options.js';
import { openSource, sampleLabel, skipBadSamples, writeSink, type Sample, type Stage } from '../shards/index.js';
import { progress } from '../stages/progress.js';
import { reencode } from '../stages/reencode.js';
import { perClassSubset, workerShare } from '../stages/subset.js';
import { debug } from '../log.js';
import { sinkArgs, sinkOptionsFrom, sourceArgs, sourceOptionsFrom, type SinkArgs, type SourceArgs } from './common.js';

interface PackArgs extends SourceArgs, SinkArgs {
  dataset?: string;
  split: string;
  'per-class'?: number;
  seed: number;
  classes?: string;
  size?: string;
  channels: string;
  resize: string;
}

function labelList(value: unknown, count: number): number[] {
  const parts = String(value).split(',').filter((s) => s.trim() !== '');
  const labels = parts.map(Number);
  if (parts.length === 0 || labels.some((c) => !Number.isInteger(c) || c < 0 || c >= count)) {
    throw invalidParameterError('classes', `comma-separated labels from 0 to ${count - 1}`, value);
  }
  return labels;
}

export const packCommand: CommandModule<object, PackArgs> = {
  command: 'pack [sources..]',
  describe: 'Write labelled shards (png, cls, json) from ImageFolder directories or --dataset fashion-mnist',
  builder: (y: Argv) =>
    sinkArgs(sourceArgs(y))
      .positional('sources', { demandOption: false, array: true, type: 'string', default: [] as string[] })
      .option('dataset', { type: 'string', choices: DATASET_NAMES, describe: 'A built-in dataset to pack instead of sources' })
      .option('split', {
        type: 'string',
        default: 'train',
        describe: 'Dataset split (fashion-mnist: train = first 6000 images of each class, test = last 1000)',
      })
      .option('per-class', {
        type: 'number',
        describe:
          'Keep a seeded random subset of N images per class (low-data subsets; default: all). Same seed, same subset; ' +
          'the N chosen are among the N+1 chosen',
      })
      .option('seed', { type: 'number', default: 0, describe: 'Seed of the --per-class choice' })
      .option('classes', { type: 'string', describe: 'Dataset labels to pack, comma-separated, e.g. 0,3,7 (default: all)' })
      .option('size', {
        type: 'string',
        describe: 'Re-encode images at this size: N (square) or WxH (default: keep each image\'s size)',
      })
      .option('channels', {
        type: 'string',
        choices: ['keep', '1', '3'],
        default: 'keep',
        describe: '1 = gray (ITU-R BT.601 luma), 3 = RGB, keep = gray stays gray, colour becomes RGB (alpha is flattened onto black)',
      })
      .option('resize', {
        type: 'string',
        choices: RESIZE_POLICIES as string[],
        default: 'center-crop',
        describe: 'How --size is reached: none (sizes must match), stretch, center-crop (cover, crop the centre), pad (fit, pad with black)',
      })
      .example('$0 pack --dataset fashion-mnist --split test -o test-%06d.tar --max-count 5000', '')
      .example('$0 pack --dataset fashion-mnist --per-class 100 --seed 1 > low.tar', '')
      .example('$0 pack photos/ --size 64 --channels 3 > photos.tar', '') as unknown as Argv<PackArgs>,
  handler: async (args) => {
    const sink = sinkOptionsFrom(args);
    const source = sourceOptionsFrom(args);
    const seed = nonNegativeInt('seed', args.seed);
    const perClass = args['per-class'] === undefined ? undefined : positiveInt('per-class', args['per-class']);
    const decode: PartialDecodeSpec = { resize: oneOf<ResizePolicy>('resize', RESIZE_POLICIES, args.resize), maxPixels: source.maxPixels };
    if (args.size !== undefined) Object.assign(decode, imageSize('size', args.size));
    if (args.channels !== 'keep') decode.channels = Number(oneOf('channels', ['1', '3'], args.channels)) as 1 | 3;
    const sources = args.sources ?? [];

    let samples: AsyncIterable<Sample>;
    let total: number | undefined;
    const stages: Stage[] = [];
    if (args.dataset !== undefined) {
      if (sources.length > 0) throw new UsageError('give either --dataset or sources, not both');
      const dataset = datasets[oneOf('dataset', DATASET_NAMES, args.dataset)];
      const opts = {
        split: oneOf('split', dataset.splits, args.split),
        perClass,
        seed,
        classes: args.classes === undefined ? undefined : labelList(args.classes, dataset.classes.length),
      };
      total = dataset.count(opts);
      samples = dataset.samples(opts);
      if (source.numShards! > 1) {
        stages.push(workerShare(source));
        total = Math.ceil((total - source.shardIndex!) / source.numShards!);
      }
      if (args.size !== undefined || decode.channels !== undefined) stages.push(reencode({ spec: decode, maxClasses: source.maxClasses, skipBad: source.skipBad }));
    } else {
      if (sources.length === 0) throw new UsageError('name ImageFolder directories (or other sources) to pack, or --dataset fashion-mnist');
      if (args.classes !== undefined) throw new UsageError('--classes selects dataset labels: use it with --dataset');
      samples = openSource(sources, source);
      if (perClass !== undefined) {
        // Bad labels are skipped (--skip-bad) before the per-class choice, which groups by label.
        stages.push(skipBadSamples((s) => (sampleLabel(s, source.maxClasses), s), source));
        stages.push(perClassSubset({ perClass, seed, maxClasses: source.maxClasses }));
      }
      stages.push(reencode({ spec: decode, maxClasses: source.maxClasses, skipBad: source.skipBad }));
    }
    stages.push(progress({ total, label: 'pack' }));
    const result = await writeSink(stages.reduce((s, stage) => stage(s), samples), sink);
    debug(`packed ${result.samples} samples into ${result.shards.join(', ')}`);
  },
};

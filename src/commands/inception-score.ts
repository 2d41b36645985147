// synthaug inception-score: IS mean ± std over 10 consecutive splits of the input in read order
// (src/metrics/inception-score.ts), from the Inception logits or a classifier directory's.
import type { Argv, CommandModule } from 'yargs';
import type { BackendChoice } from '../backend/index.js';
import { UsageError } from '../errors.js';
import { positiveInt } from '../options.js';
import type { FeatureArgs } from '../metrics/extractors.js';
import { sourceArgs, sourceOptionsFrom, writeStdout, type SourceArgs } from './common.js';

interface IsArgs extends FeatureArgs, SourceArgs {
  splits: number;
  json: boolean;
  backend: BackendChoice;
}

export const inceptionScoreCommand: CommandModule<object, IsArgs> = {
  command: 'inception-score <sources..>',
  describe: 'Inception Score: mean ± std over 10 consecutive splits, in input order',
  builder: async (y: Argv) => {
    const [{ backendOption }, { featureArgs }] = await Promise.all([import('../backend/cli.js'), import('../metrics/extractors.js')]);
    return backendOption(featureArgs(sourceArgs(y)))
      .option('splits', { type: 'number', default: 10, describe: 'Number of consecutive parts the score is averaged over' })
      .option('json', { type: 'boolean', default: false, describe: 'Print one JSON object instead of a human line' })
      .example('$0 inception-score generated/ --inception-weights pt_inception-2015-12-05-6726825d.pth', '') as unknown as Argv<IsArgs>;
  },
  handler: async (args) => {
    const [{ initBackend }, { extractorFrom }, { readSide }, { inceptionScore }] = await Promise.all([
      import('../backend/index.js'),
      import('../metrics/extractors.js'),
      import('../metrics/fid.js'),
      import('../metrics/inception-score.js'),
    ]);
    const source = sourceOptionsFrom(args);
    const batchSize = positiveInt('batch-size', args['batch-size']);
    const splits = positiveInt('splits', args.splits);
    const extractor = extractorFrom(args);
    if (args.sources.length !== 1) throw new UsageError(`inception-score takes one source (got ${args.sources.length}; join several with '::')`);
    await initBackend(args.backend);
    const side = await readSide(args.sources[0], extractor, { ...source, batchSize, keepLogits: true });
    const ex = await extractor();
    const r = inceptionScore(side.logits!, ex.numClasses, splits);
    await extractor.close();
    const out = { inception_score_mean: r.mean, inception_score_std: r.std, n: side.stats.n, splits };
    await writeStdout(args.json ? `${JSON.stringify(out)}\n` : `IS ${r.mean.toFixed(4)} ± ${r.std.toFixed(4)}  (${side.stats.n} images, ${splits} splits)\n`);
  },
};

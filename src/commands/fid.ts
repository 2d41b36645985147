// synthaug fid: Fréchet Inception Distance between two sides (shards, image folders, or saved .npz statistics),
// with KID, precision/recall and per-class FID on request; --save-stats writes one side's statistics in
// pytorch-fid's .npz format, --merge-stats merges partial statistics of --shard-index/--num-shards runs.
import type { Argv, CommandModule } from 'yargs';
import { UsageError } from '../errors.js';
import type { BackendChoice } from '../backend/index.js';
import { debug } from '../log.js';
import { positiveInt, nonNegativeInt } from '../options.js';
import type { FeatureArgs } from '../metrics/extractors.js';
import type { FidRequest } from '../metrics/fid.js';
import { checkStdinOnce } from '../shards/index.js';
import { limitArgs, partitionArgs, sourceOptionsFrom, writeStdout, type SourceArgs } from './common.js';

interface FidArgs extends FeatureArgs, SourceArgs {
  'save-stats'?: string;
  'merge-stats'?: string[];
  output?: string;
  kid: boolean;
  'kid-subsets': number;
  'kid-subset-size': number;
  prc: boolean;
  'prc-k': number;
  'per-class': boolean;
  seed: number;
  json: boolean;
  backend: BackendChoice;
}

export const fidCommand: CommandModule<object, FidArgs> = {
  command: 'fid [sources..]',
  describe: 'FID between two sources (shards, image folders, or .npz statistics); KID, precision/recall, per-class FID on request',
  builder: async (y: Argv) => {
    const [{ backendOption }, { featureArgs }] = await Promise.all([import('../backend/cli.js'), import('../metrics/extractors.js')]);
    return limitArgs(partitionArgs(backendOption(featureArgs(y))))
      .parserConfiguration({ 'unknown-options-as-args': true })
      .positional('sources', {
        type: 'string',
        array: true,
        describe: 'Two sides (one with --save-stats): a tar file, brace pattern or :: list, - for stdin, pipe:COMMAND, an image folder (recursive), or FILE.npz',
      })
      .option('save-stats', { type: 'string', describe: "Write the one side's statistics (mu, sigma, n) to this .npz instead of comparing" })
      .option('merge-stats', { type: 'string', array: true, describe: 'Merge these partial .npz statistics (from --save-stats) into -o' })
      .option('output', { alias: 'o', type: 'string', describe: 'Output .npz of --merge-stats' })
      .option('kid', { type: 'boolean', default: false, describe: 'Also the Kernel Inception Distance (unbiased MMD², cubic kernel)' })
      .option('kid-subsets', { type: 'number', default: 100, describe: 'KID: number of random subsets' })
      .option('kid-subset-size', { type: 'number', default: 1000, describe: 'KID: images per subset (fewer if a side has fewer)' })
      .option('prc', { type: 'boolean', default: false, describe: 'Also precision and recall (Kynkäänniemi et al. 2019)' })
      .option('prc-k', { type: 'number', default: 3, describe: 'Precision/recall: the k of the k-nearest-neighbour radii' })
      .option('per-class', { type: 'boolean', default: false, describe: 'Also the FID of each class (by cls) present on both sides' })
      .option('seed', { type: 'number', default: 0, describe: 'Seed of the KID subsets' })
      .option('json', { type: 'boolean', default: false, describe: 'Print one JSON object instead of a human line' })
      .example('$0 fid real/ generated/ --inception-weights pt_inception-2015-12-05-6726825d.pth', 'FID of two image folders')
      .example("$0 fid 'real-{0..3}.tar' --save-stats part-1.npz --shard-index 1 --num-shards 4", "one worker's partial statistics")
      .example("$0 fid --merge-stats part-*.npz -o real.npz && $0 fid real.npz gen.tar --kid", 'merge, then compare') as unknown as Argv<FidArgs>;
  },
  handler: async (args) => {
    const [{ initBackend }, { extractorFrom }, { fidOf, formatFidLine, readSide, warnSmall }, { mergeStatsFiles, saveStats }] = await Promise.all([
      import('../backend/index.js'),
      import('../metrics/extractors.js'),
      import('../metrics/fid.js'),
      import('../metrics/stats.js'),
    ]);
    const sources = args.sources ?? [];
    if (args['merge-stats']) {
      if (sources.length) throw new UsageError('--merge-stats takes no sources');
      if (!args.output) throw new UsageError('--merge-stats needs -o OUT.npz');
      const merged = await mergeStatsFiles(args['merge-stats']);
      await saveStats(args.output, merged);
      await writeStdout(args.json ? `${JSON.stringify({ n: merged.n, output: args.output })}\n` : `merged ${args['merge-stats'].length} statistics (${merged.n} images) into ${args.output}\n`);
      return;
    }
    const source = sourceOptionsFrom(args);
    const batchSize = positiveInt('batch-size', args['batch-size']);
    const extractor = extractorFrom(args);
    const wantsImages = args.kid || args.prc || args['per-class'];
    if (args['save-stats'] !== undefined) {
      if (sources.length !== 1) throw new UsageError(`--save-stats takes exactly one source (got ${sources.length})`);
      if (wantsImages) throw new UsageError('--save-stats writes statistics only: --kid, --prc and --per-class need two sides');
      await initBackend(args.backend);
      const side = await readSide(sources[0], extractor, { ...source, batchSize });
      await saveStats(args['save-stats'], side.stats);
      await writeStdout(args.json ? `${JSON.stringify({ n: side.stats.n, output: args['save-stats'] })}\n` : `saved statistics of ${side.stats.n} images to ${args['save-stats']}\n`);
      return;
    }
    if (sources.length !== 2) throw new UsageError(`fid compares two sources (got ${sources.length}); use --save-stats with one`);
    checkStdinOnce(sources);
    const req: FidRequest = {
      kid: args.kid ? { subsets: positiveInt('kid-subsets', args['kid-subsets']), subsetSize: positiveInt('kid-subset-size', args['kid-subset-size']), seed: nonNegativeInt('seed', args.seed) } : undefined,
      prc: args.prc ? { k: positiveInt('prc-k', args['prc-k']) } : undefined,
      perClass: args['per-class'],
    };
    const info = await initBackend(args.backend);
    debug(`backend ${info.name}`);
    const options = { ...source, batchSize, keepFeatures: Boolean(req.kid || req.prc), perClass: req.perClass };
    const a = await readSide(sources[0], extractor, options);
    const b = await readSide(sources[1], extractor, options);
    if (a.stats.dim !== b.stats.dim) throw new UsageError(`the two sides have ${a.stats.dim}- and ${b.stats.dim}-d features (statistics from another extractor?)`);
    warnSmall(a);
    warnSmall(b);
    const result = fidOf(a, b, req);
    await writeStdout(args.json ? `${JSON.stringify(result)}\n` : `${formatFidLine(result, [sources[0], sources[1]])}\n`);
    await extractor.close();
  },
};

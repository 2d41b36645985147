// synthaug cas: Classification Accuracy Score (Ravuri & Vinyals 2019) — train on generated shards
// only, test on real ones; with --real-train, the same recipe on real data side by side.
// TensorFlow.js and the models load when this command is chosen (builder) or run (handler).
import type { Argv, CommandModule } from 'yargs';
import { UsageError } from '../errors.js';
import type { BackendChoice } from '../backend/index.js';
import { debug } from '../log.js';
import type { RecipeArgs } from '../training/args.js';
import { writeStdout } from './common.js';

interface CasArgs extends RecipeArgs {
  generated: string[];
  test: string;
  'real-train'?: string;
  output: string;
  resume: boolean;
  backend: BackendChoice;
}

export const casCommand: CommandModule<object, CasArgs> = {
  command: 'cas <generated..>',
  describe: 'Classification Accuracy Score: train on generated shards only, test on real shards (with --real-train: the real baseline too)',
  builder: async (y: Argv) => {
    const [{ backendOption }, { recipeArgs }] = await Promise.all([import('../backend/cli.js'), import('../training/args.js')]);
    return backendOption(recipeArgs(y))
      .positional('generated', { type: 'string', array: true, describe: 'Generated labelled shards (files, patterns, pipe:COMMAND, or - for stdin)' })
      .option('test', { type: 'string', demandOption: true, describe: 'Real labelled test shards' })
      .option('real-train', { type: 'string', describe: 'Real training shards: train the same recipe on them and report both, and CAS / real' })
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'Directory for the classifiers (generated/, real/) and cas.json' })
      .option('resume', { type: 'boolean', default: false, describe: 'Continue interrupted runs from their checkpoints' })
      .example('$0 cas gen-{000..009}.tar --test test.tar --real-train train.tar -o cas --epochs 30 --flip', '') as unknown as Argv<CasArgs>;
  },
  handler: async (args) => {
    const { checkPositionals, dataOptionsFrom, recipeFrom, replayLimitFrom, sampleSource } = await import('../training/args.js');
    const { initBackend } = await import('../backend/index.js');
    const { classificationAccuracyScore, formatCasLine } = await import('../training/cas.js');
    checkPositionals(args.generated ?? []);
    const recipe = recipeFrom(args);
    const data = dataOptionsFrom(args);
    const replayLimit = replayLimitFrom(args);
    const skipBad = data.skipBad ?? false;
    const specs = [args.generated, args.test, args['real-train']].flat().filter((s): s is string => s !== undefined);
    if (specs.filter((s) => s === '-').length > 1) throw new UsageError('stdin (-) can be read only once');
    const generated = sampleSource(args.generated, { skipBad, replayLimit });
    const test = sampleSource([args.test], { skipBad, replayLimit });
    const realTrain = args['real-train'] === undefined ? undefined : sampleSource([args['real-train']], { skipBad, replayLimit });
    const info = await initBackend(args.backend);
    debug(`backend ${info.name}`);
    const result = await classificationAccuracyScore({
      ...data,
      generated,
      test,
      realTrain,
      recipe,
      outDir: args.output,
      resume: args.resume,
      provenance: { command: ['synthaug', ...process.argv.slice(2)].join(' '), backend: info.name },
    });
    await writeStdout(args.json ? `${JSON.stringify(result)}\n` : `${formatCasLine(result)}\n`);
  },
};

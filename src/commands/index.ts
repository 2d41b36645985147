// The registry of subcommands: a new command is one file in this folder plus one line here.
import type { CommandModule } from 'yargs';
import { catCommand } from './cat.js';
import { lsCommand } from './ls.js';
import { mixCommand } from './mix.js';
import { packCommand } from './pack.js';
import { trainClassifierCommand } from './train-classifier.js';
import { casCommand } from './cas.js';
import { reportCommand } from './report.js';
import { sampleCommand } from './sample.js';
import { fidCommand } from './fid.js';
import { inceptionScoreCommand } from './inception-score.js';
import { convertWeightsCommand } from './convert-weights.js';
import { finetuneCommand } from './finetune.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [
  lsCommand,
  catCommand,
  packCommand,
  mixCommand,
  trainClassifierCommand,
  casCommand,
  reportCommand,
  sampleCommand,
  fidCommand,
  inceptionScoreCommand,
  convertWeightsCommand,
  finetuneCommand,
];

// synthaug cat: concatenate sources into one stream, or reshard them, samples untouched (as tarp cat).
import type { Argv, CommandModule } from 'yargs';
import { openSource, writeSink } from '../shards/index.js';
import { sinkArgs, sinkOptionsFrom, sourceArgs, sourceOptionsFrom, type SinkArgs, type SourceArgs } from './common.js';

type CatArgs = SourceArgs & SinkArgs;

export const catCommand: CommandModule<object, CatArgs> = {
  command: 'cat <sources..>',
  describe: 'Concatenate sources into one tar stream, or reshard them with -o name-%06d.tar; samples pass through untouched',
  builder: (y: Argv) =>
    sinkArgs(sourceArgs(y))
      .example('$0 cat train-{000000..000009}.tar > train.tar', 'ten shards → one archive')
      .example("$0 cat train.tar -o 'part-%06d.tar' --max-count 1000", 'reshard by count (or --max-size 100M)')
      .example('$0 cat shards/*.tar --shard-index 1 --num-shards 4 > part1.tar', "this worker's quarter of the samples") as unknown as Argv<CatArgs>,
  handler: async (args) => {
    const sink = sinkOptionsFrom(args);
    const source = sourceOptionsFrom(args);
    // The sink copies each sample out before asking for the next, so the reader may reuse its buffers.
    await writeSink(openSource(args.sources, { ...source, transient: true }), sink);
  },
};

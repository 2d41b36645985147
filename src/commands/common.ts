// yargs options shared by every command that reads or writes shard streams, and the checks that
// turn parsed arguments into SourceOptions / SinkOptions. A command's builder composes them:
//   builder: (y) => sinkArgs(sourceArgs(y)).option('seed', ...)
// and its handler: openSource(args.sources, sourceOptionsFrom(args)) → stages → writeSink(..., sinkOptionsFrom(args)).
import type { Argv } from 'yargs';
import { UsageError } from '../errors.js';
import { byteSize, nonNegativeInt, positiveInt } from '../options.js';
import { partition, type SinkOptions, type SourceOptions } from '../shards/index.js';

/** Parsed source arguments (what sourceArgs adds). */
export interface SourceArgs {
  sources: string[];
  'skip-bad': boolean;
  'shard-index': number;
  'num-shards': number;
}

/** Parsed sink arguments (what sinkArgs adds). */
export interface SinkArgs {
  output: string;
  'max-count'?: number;
  'max-size'?: string;
}

const SOURCES_HELP =
  'Inputs, read in order as one stream: tar files, brace patterns (train-{000000..000009}.tar, {a,b}.tar), ' +
  "lists joined with '::', - for stdin, pipe:COMMAND, or ImageFolder directories (one subfolder per class)";

/**
 * The positional `sources` (declare it in the command string as `<sources..>`), --skip-bad, --shard-index, --num-shards.
 *
 * yargs 18 drops a '-' given as a variadic positional (it looks like a flag), so `ls -` or `mix a.tar -`
 * would silently lose stdin. Unknown options are therefore parsed as positionals, and
 * sourceOptionsFrom refuses any that look like an option (exit 2), as strict mode would.
 */
export function sourceArgs<T>(y: Argv<T>) {
  return partitionArgs(y)
    .parserConfiguration({ 'unknown-options-as-args': true })
    .positional('sources', { type: 'string', array: true, demandOption: true, describe: SOURCES_HELP })
    .option('skip-bad', {
      type: 'boolean',
      default: false,
      describe: 'Skip bad samples and shards (cut or garbled tar, duplicate keys or fields, ...) and report their count instead of failing',
    });
}

/** --shard-index and --num-shards: this worker's part of the samples a command reads ('keep') or makes ('make'). */
export function partitionArgs<T>(y: Argv<T>, verb: 'keep' | 'make' = 'keep') {
  return y
    .option('shard-index', {
      type: 'number',
      default: 0,
      describe: `This worker's part: ${verb} the samples whose global index i has i % num-shards == shard-index`,
    })
    .option('num-shards', { type: 'number', default: 1, describe: 'Number of parts the work is split into across workers' });
}

/** -o/--output, --max-count, --max-size. */
export function sinkArgs<T>(y: Argv<T>) {
  return y
    .option('output', {
      alias: 'o',
      type: 'string',
      default: '-',
      describe: "Where the tar stream goes: - for stdout (never a terminal), a file, or a pattern such as 'out-%06d.tar' for several shards",
    })
    .option('max-count', { type: 'number', describe: 'Start a new shard after this many samples (needs a %d pattern; default: no limit)' })
    .option('max-size', {
      type: 'string',
      describe: 'Start a new shard before a file would exceed this size, e.g. 500M or 1G (needs a %d pattern; default: no limit)',
    });
}

/** SourceOptions from parsed arguments, checked (exit 2 on a bad value). */
export function sourceOptionsFrom(args: Partial<SourceArgs>): SourceOptions {
  const unknown = (args.sources ?? []).filter((s) => s.startsWith('-') && s !== '-');
  if (unknown.length > 0) throw new UsageError(`Unknown argument${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`);
  const numShards = positiveInt('num-shards', args['num-shards'] ?? 1);
  const shardIndex = nonNegativeInt('shard-index', args['shard-index'] ?? 0);
  partition({ shardIndex, numShards });
  return { skipBad: Boolean(args['skip-bad']), shardIndex, numShards };
}

/** SinkOptions from parsed arguments, checked (exit 2 on a bad value). */
export function sinkOptionsFrom(args: Partial<SinkArgs>): SinkOptions {
  const options: SinkOptions = { output: args.output ?? '-' };
  if (args['max-count'] !== undefined) options.maxCount = positiveInt('max-count', args['max-count']);
  if (args['max-size'] !== undefined) options.maxSize = byteSize('max-size', args['max-size']);
  return options;
}

/**
 * Write text to stdout, waiting when the reader is slow. A reader that has gone away (EPIPE) is
 * handled by the entry point, which ends the command quietly.
 */
export async function writeStdout(text: string, stream: NodeJS.WritableStream = process.stdout): Promise<void> {
  if (stream.write(text)) return;
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error) => {
      stream.off('drain', done);
      stream.off('error', done);
      if (err) reject(err);
      else resolve();
    };
    stream.on('drain', done);
    stream.on('error', done);
  });
}

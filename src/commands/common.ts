// yargs options shared by every command that reads or writes shard streams, and the checks that
// turn parsed arguments into SourceOptions / SinkOptions. A command's builder composes them:
//   builder: (y) => sinkArgs(sourceArgs(y)).option('seed', ...)
// and its handler: openSource(args.sources, sourceOptionsFrom(args)) → stages → writeSink(..., sinkOptionsFrom(args)).
import type { Argv } from 'yargs';
import { byteSize, nonNegativeInt, positiveInt, rejectUnknownOptions } from '../options.js';
import { DEFAULT_MAX_PIXELS } from '../images/header.js';
import { DEFAULT_MAX_CLASSES, DEFAULT_MAX_MEMBER_SIZE, partition, type SinkOptions, type SourceOptions } from '../shards/index.js';

/** Parsed source arguments (what sourceArgs adds). */
export interface SourceArgs extends LimitArgs {
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
 * The positional `sources` (declare it in the command string as `<sources..>`), --skip-bad, --shard-index, --num-shards,
 * and the limits on hostile input: --max-classes, --max-pixels, --max-member-size.
 *
 * yargs 18 drops a '-' given as a variadic positional (it looks like a flag), so `ls -` or `mix a.tar -`
 * would silently lose stdin. Unknown options are therefore parsed as positionals, and
 * sourceOptionsFrom refuses any that look like an option (rejectUnknownOptions, exit 2).
 */
export function sourceArgs<T>(y: Argv<T>) {
  return limitArgs(partitionArgs(y))
    .parserConfiguration({ 'unknown-options-as-args': true })
    .positional('sources', { type: 'string', array: true, demandOption: true, describe: SOURCES_HELP });
}

/** Parsed limit arguments (what limitArgs adds). */
export interface LimitArgs {
  'max-classes': number;
  'max-pixels': number;
  'max-member-size': string;
}

/** The limits on hostile input, checked: what every reader of samples applies. */
export type Limits = Required<Pick<SourceOptions, 'maxClasses' | 'maxPixels' | 'maxMemberSize'>>;

/**
 * How every command that reads samples treats bad input: --skip-bad, and the limits on hostile input
 * --max-classes, --max-pixels, --max-member-size (limitsFrom turns those into Limits).
 */
export function limitArgs<T>(y: Argv<T>) {
  return y
    .option('skip-bad', {
      type: 'boolean',
      default: false,
      describe: 'Skip bad samples and shards (cut or garbled tar, duplicate keys or fields, ...) and report their count instead of failing',
    })
    .option('max-classes', {
      type: 'number',
      default: DEFAULT_MAX_CLASSES,
      describe: 'A sample whose cls is not an integer below this is bad (nothing is sized by a label before this check)',
    })
    .option('max-pixels', {
      type: 'number',
      default: DEFAULT_MAX_PIXELS,
      describe: "An image whose header declares more pixels is bad, checked before decoding (default: PIL's decompression-bomb limit)",
    })
    .option('max-member-size', {
      type: 'string',
      default: String(DEFAULT_MAX_MEMBER_SIZE),
      describe: 'A tar member or image file larger than this (e.g. 256M) is bad, refused before it is read into memory',
    });
}

/** Limits from parsed arguments, checked (exit 2 on a bad value); the defaults for absent ones. */
export function limitsFrom(args: Partial<LimitArgs>): Limits {
  return {
    maxClasses: positiveInt('max-classes', args['max-classes'] ?? DEFAULT_MAX_CLASSES),
    maxPixels: positiveInt('max-pixels', args['max-pixels'] ?? DEFAULT_MAX_PIXELS),
    maxMemberSize: byteSize('max-member-size', args['max-member-size'] ?? DEFAULT_MAX_MEMBER_SIZE),
  };
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
  rejectUnknownOptions(args.sources ?? []);
  const numShards = positiveInt('num-shards', args['num-shards'] ?? 1);
  const shardIndex = nonNegativeInt('shard-index', args['shard-index'] ?? 0);
  partition({ shardIndex, numShards });
  return {
    skipBad: Boolean(args['skip-bad']),
    shardIndex,
    numShards,
    ...limitsFrom(args),
  };
}

/**
 * SinkOptions from parsed arguments, checked (exit 2 on a bad value). With the command's sources, the
 * sink refuses to write over one of them.
 */
export function sinkOptionsFrom(args: Partial<SinkArgs & SourceArgs>): SinkOptions {
  const options: SinkOptions = { output: args.output ?? '-', inputs: args.sources, skipBad: args['skip-bad'] };
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

// Sources: the concatenation of every input named on the command line, as one stream of samples.
//   -             stdin (a tar stream)
//   PATH          a tar file
//   DIR           an ImageFolder directory (see imagefolder.ts)
//   pipe:COMMAND  the stdout of `sh -c COMMAND`; a non-zero exit is an InputError naming the command
// Specs are expanded first (expand.ts): `a-{000..009}.tar`, `{x,y}.tar`, `a.tar::b.tar`.
import { spawn } from 'node:child_process';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { InputError, UsageError, invalidParameterError } from '../errors.js';
import { debug } from '../log.js';
import { BadInputs, type SkipOptions } from './bad.js';
import { ChunkPool, fileChunks, stdinChunks, streamChunks } from './chunks.js';
import { iterateSources } from './expand.js';
import { readImageFolder } from './imagefolder.js';
import type { Sample } from './sample.js';
import { readTar, type ReadTarOptions, type Reread } from './tar-read.js';

export interface SourceOptions extends SkipOptions {
  /** Stream read for '-' (default process.stdin). */
  stdin?: NodeJS.ReadableStream;
  /** This worker's part of a deterministic partition: it keeps the samples whose global index i has i % numShards === shardIndex. */
  shardIndex?: number;
  numShards?: number;
  /**
   * Each sample is valid only until the next one is asked for (its bytes are then reused): for consumers
   * that write or copy a sample before taking the next, as writeSink does. Saves allocating per byte.
   */
  transient?: boolean;
  /** Tar members and image files larger than this are bad samples, refused unread (default 256 MB). */
  maxMemberSize?: number;
  /** Labels must lie below this (--max-classes); for the consumers that parse `cls` (sampleLabel). */
  maxClasses?: number;
  /** Images with more pixels are bad samples (--max-pixels); for the consumers that decode (codec.ts). */
  maxPixels?: number;
}

/**
 * Sources checked before the first sample is read (missing files fail before anything is written);
 * sources beyond these are checked when they are reached, so that a long pattern is expanded lazily.
 */
const CHECKED_AHEAD = 10_000;

type Kind = 'stdin' | 'pipe' | 'file' | 'dir';

/** What a source spec names; an InputError when a path does not exist. */
async function kindOf(spec: string): Promise<Kind> {
  if (spec === '-') return 'stdin';
  if (spec.startsWith('pipe:')) return 'pipe';
  try {
    return (await stat(spec)).isDirectory() ? 'dir' : 'file';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file or directory' : (err as Error).message;
    throw new InputError(why, { shard: spec });
  }
}

/** Checks --shard-index/--num-shards; returns the pair with defaults 0 and 1. */
export function partition(options: Pick<SourceOptions, 'shardIndex' | 'numShards'>): { index: number; count: number } {
  const count = options.numShards ?? 1;
  const index = options.shardIndex ?? 0;
  if (!Number.isInteger(count) || count < 1) throw invalidParameterError('num-shards', 'a positive integer', count);
  if (!Number.isInteger(index) || index < 0 || index >= count) {
    throw invalidParameterError('shard-index', `an integer from 0 to ${count - 1} (--num-shards ${count})`, index);
  }
  return { index, count };
}

/**
 * This worker's part of a stream (docs/design.md, Conventions): a predicate called once per sample, in
 * the stream's order, true for the samples whose index i (from 0) has i % numShards === shardIndex.
 * The options are checked first (a UsageError when they do not describe a part).
 */
export function workerPart(options: Pick<SourceOptions, 'shardIndex' | 'numShards'>): () => boolean {
  const { index, count } = partition(options);
  let next = 0;
  return () => next++ % count === index;
}

/** Whether a source spec reads stdin: '-' itself, or '-' in a `::` list. */
export function readsStdin(spec: string): boolean {
  for (const s of iterateSources([spec])) if (s === '-') return true;
  return false;
}

/** stdin can be read only once: a UsageError when the specs, taken together, name it more than once. */
export function checkStdinOnce(specs: readonly string[]): void {
  let seen = 0;
  for (const s of iterateSources([...specs])) if (s === '-' && ++seen > 1) throw stdinTwice();
}

function stdinTwice(): UsageError {
  return new UsageError('stdin (-) can be read only once');
}

/**
 * All samples of all sources, in order. With `skipBad`, a missing or unreadable source, a cut or
 * garbled archive (the rest of that shard), or a bad sample is skipped and counted; the count is
 * logged when the stream ends. Every path is checked before the first sample is read, so a missing
 * file fails before anything is written.
 *
 * Field bytes are views of large read chunks (no copy). A stage that holds many samples while the stream
 * goes on (a shuffle buffer, a per-class subset) should keep `detachSample(sample)` instead, or a small
 * field would keep its whole chunk alive. With `transient`, a sample is valid only until the next one is
 * asked for: only for consumers that hold nothing (`cat`'s source → writeSink).
 */
export function openSource(specs: string[], options: SourceOptions = {}): AsyncIterable<Sample> {
  const rest = iterateSources(specs);
  const ahead: string[] = [];
  while (ahead.length < CHECKED_AHEAD) {
    const next = rest.next();
    if (next.done) break;
    ahead.push(next.value);
  }
  if (ahead.length === 0) throw new UsageError('no input: name at least one source (a tar file, a directory, - or pipe:COMMAND)');
  checkStdinOnce(ahead);
  return concatenate(ahead, rest, options, workerPart(options));
}

/** `claim` is called once per sample in global order (ImageFolder files before they are read). */
async function* concatenate(ahead: string[], rest: Iterator<string>, options: SourceOptions, claim: () => boolean): AsyncGenerator<Sample> {
  const bad = new BadInputs(options, 'input item');
  const skip = bad.asOptions();
  const check = async (spec: string): Promise<Kind | null> => {
    try {
      return await kindOf(spec);
    } catch (err) {
      bad.handle(err);
      return null;
    }
  };
  const kinds: (Kind | null)[] = [];
  for (const spec of ahead) kinds.push(await check(spec));
  const pool = new ChunkPool(options.transient ?? false);
  const read = { ...skip, pool, maxMemberSize: options.maxMemberSize };
  let stdinRead = ahead.includes('-');
  const sources = (function* (): Generator<[string, Kind | null | undefined]> {
    for (const [i, spec] of ahead.entries()) yield [spec, kinds[i]];
    for (let r = rest.next(); !r.done; r = rest.next()) yield [r.value, undefined];
  })();
  for (const [spec, known] of sources) {
    if (known === undefined && spec === '-') {
      if (stdinRead) throw stdinTwice();
      stdinRead = true;
    }
    const kind = known === undefined ? await check(spec) : known;
    if (kind === null) continue;
    debug(`reading ${spec}`);
    if (kind === 'dir') {
      yield* readImageFolder(spec, { ...skip, claim, maxMemberSize: options.maxMemberSize });
      continue;
    }
    const samples =
      kind === 'stdin'
        ? readTar(options.stdin ? streamChunks(options.stdin, pool) : stdinChunks(pool), '-', read)
        : kind === 'pipe'
          ? readPipe(spec, read)
          : readFile(spec, read);
    for await (const sample of samples) if (claim()) yield sample;
  }
  bad.summary();
}

/** The samples of a tar file. */
async function* readFile(path: string, options: ReadTarOptions & { pool: ChunkPool }): AsyncGenerator<Sample> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    new BadInputs(options).handle(new InputError(`cannot open: ${(err as Error).message}`, { shard: path }));
    return;
  }
  const reread: Reread = async (offset, size) => {
    const buf = Buffer.allocUnsafe(size);
    const { bytesRead } = await handle.read(buf, 0, size, offset);
    return buf.subarray(0, bytesRead);
  };
  try {
    yield* readTar(fileChunks(handle, options.pool), path, { ...options, reread });
  } finally {
    await handle.close();
  }
}

/** The samples of `sh -c COMMAND`'s stdout; the command's exit status is checked at the end. */
async function* readPipe(spec: string, options: ReadTarOptions & { pool: ChunkPool }): AsyncGenerator<Sample> {
  const command = spec.slice('pipe:'.length);
  const child = spawn('sh', ['-c', command], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<string | null>((resolve) => {
    child.on('error', (err) => resolve(`could not start: ${err.message}`));
    child.on('close', (code, signal) => resolve(code === 0 ? null : code !== null ? `command exited with status ${code}` : `command killed by ${signal}`));
  });
  let complete = false;
  try {
    yield* readTar(streamChunks(child.stdout, options.pool), spec, options);
    const failure = await exited;
    complete = true;
    if (failure !== null) throw new InputError(failure, { shard: spec });
  } catch (err) {
    new BadInputs(options).handle(err);
  } finally {
    if (!complete && child.exitCode === null && child.signalCode === null) child.kill();
  }
}

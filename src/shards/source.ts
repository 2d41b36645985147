// Sources: the concatenation of every input named on the command line, as one stream of samples.
//   -             stdin (a tar stream)
//   PATH          a tar file
//   DIR           an ImageFolder directory (see imagefolder.ts)
//   pipe:COMMAND  the stdout of `sh -c COMMAND`; a non-zero exit is an InputError naming the command
// Specs are expanded first (expand.ts): `a-{000..009}.tar`, `{x,y}.tar`, `a.tar::b.tar`.
import { spawn } from 'node:child_process';
import { open, stat } from 'node:fs/promises';
import { InputError, UsageError, invalidParameterError } from '../errors.js';
import { debug } from '../log.js';
import { BadInputs, type SkipOptions } from './bad.js';
import { expandSources } from './expand.js';
import { readImageFolder } from './imagefolder.js';
import type { Sample } from './sample.js';
import { readTar } from './tar-read.js';

export interface SourceOptions extends SkipOptions {
  /** Stream read for '-' (default process.stdin). */
  stdin?: NodeJS.ReadableStream;
  /** This worker's part of a deterministic partition: it keeps the samples whose global index i has i % numShards === shardIndex. */
  shardIndex?: number;
  numShards?: number;
}

/** Bytes per read from a shard file. */
const READ_CHUNK = 1 << 20;

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
 * All samples of all sources, in order. With `skipBad`, a missing or unreadable source, a cut or
 * garbled archive (the rest of that shard), or a bad sample is skipped and counted; the count is
 * logged when the stream ends. Every path is checked before the first sample is read, so a missing
 * file fails before anything is written.
 */
export function openSource(specs: string[], options: SourceOptions = {}): AsyncIterable<Sample> {
  const sources = expandSources(specs);
  if (sources.length === 0) throw new UsageError('no input: name at least one source (a tar file, a directory, - or pipe:COMMAND)');
  if (sources.filter((s) => s === '-').length > 1) throw new UsageError('stdin (-) can be read only once');
  const { index, count } = partition(options);
  return concatenate(sources, options, index, count);
}

async function* concatenate(sources: string[], options: SourceOptions, shardIndex: number, numShards: number): AsyncGenerator<Sample> {
  const bad = new BadInputs(options, 'input item');
  const skip = bad.asOptions();
  const kinds: (Kind | null)[] = [];
  for (const spec of sources) {
    try {
      kinds.push(await kindOf(spec));
    } catch (err) {
      bad.handle(err);
      kinds.push(null);
    }
  }
  let next = 0; // global sample index
  const claim = () => next++ % numShards === shardIndex;
  for (const [i, spec] of sources.entries()) {
    const kind = kinds[i];
    if (kind === null) continue;
    debug(`reading ${spec}`);
    if (kind === 'dir') {
      yield* readImageFolder(spec, { ...skip, claim });
      continue;
    }
    const samples =
      kind === 'stdin'
        ? readTar(options.stdin ?? process.stdin, '-', skip)
        : kind === 'pipe'
          ? readPipe(spec, skip)
          : readTar(fileChunks(spec), spec, skip);
    for await (const sample of samples) if (claim()) yield sample;
  }
  bad.summary();
}

/**
 * A file's bytes in chunks, with the next read already in flight while the current chunk is parsed
 * (fs.createReadStream waits for each read in turn, which left the reader idle a quarter of the time).
 * Every chunk is a fresh buffer, never reused: the tar reader hands out member data as views of it.
 */
async function* fileChunks(path: string): AsyncGenerator<Buffer> {
  const handle = await open(path, 'r');
  let position = 0;
  const readNext = () => handle.read(Buffer.allocUnsafeSlow(READ_CHUNK), 0, READ_CHUNK, position);
  let pending = readNext();
  try {
    for (;;) {
      const { bytesRead, buffer } = await pending;
      if (bytesRead === 0) return;
      position += bytesRead;
      pending = readNext();
      yield bytesRead === READ_CHUNK ? buffer : buffer.subarray(0, bytesRead);
    }
  } finally {
    await pending.catch(() => undefined);
    await handle.close();
  }
}

/** The samples of `sh -c COMMAND`'s stdout; the command's exit status is checked at the end. */
async function* readPipe(spec: string, skip: SkipOptions): AsyncGenerator<Sample> {
  const command = spec.slice('pipe:'.length);
  const child = spawn('sh', ['-c', command], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<string | null>((resolve) => {
    child.on('error', (err) => resolve(`could not start: ${err.message}`));
    child.on('close', (code, signal) => resolve(code === 0 ? null : code !== null ? `command exited with status ${code}` : `command killed by ${signal}`));
  });
  let complete = false;
  try {
    yield* readTar(child.stdout, spec, skip);
    const failure = await exited;
    complete = true;
    if (failure !== null) throw new InputError(failure, { shard: spec });
  } catch (err) {
    new BadInputs(skip).handle(err);
  } finally {
    if (!complete && child.exitCode === null && child.signalCode === null) child.kill();
  }
}

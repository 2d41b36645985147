// Sinks: one tar archive on stdout, or numbered shard files ('out-%06d.tar') split by count or size.
// A shard file is written as `<name>.tmp-<pid>` and renamed when complete; on failure the partial
// file is removed and the shards already finished stay.
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { UsageError, invalidParameterError } from '../errors.js';
import { debug } from '../log.js';
import type { Sample } from './sample.js';
import { END_OF_ARCHIVE } from './tar-format.js';
import { encodeSample } from './tar-write.js';

export interface SinkOptions {
  /** undefined or '-' → stdout (a terminal is refused); otherwise a file name or pattern such as 'out-%06d.tar'. */
  output?: string;
  /** Samples per shard (pattern output only). */
  maxCount?: number;
  /** Bytes per shard file, end-of-archive marker included (pattern output only); a larger single sample gets a shard of its own. */
  maxSize?: number;
  /** Stream used for '-' (default process.stdout). It is flushed, not ended. */
  stdout?: NodeJS.WritableStream;
}

export interface SinkResult {
  samples: number;
  /** The files written, in order (['-'] for stdout). */
  shards: string[];
}

/** Where bytes go: a stream (with backpressure) or a file. */
interface ByteSink {
  /** Write these pieces, in order, as one batch. */
  writev(pieces: Buffer[]): Promise<void>;
  /** Wait until everything written has been handed to the OS. */
  flush(): Promise<void>;
}

class StreamSink implements ByteSink {
  private error: Error | undefined;
  private readonly onError = (err: Error) => {
    this.error ??= err;
  };
  /** Streams with a vectored write (pipes, sockets) take the pieces as they are; others get one joined buffer. */
  private readonly vectored: boolean;

  constructor(private readonly stream: NodeJS.WritableStream) {
    stream.on('error', this.onError);
    this.vectored = typeof (stream as Writable)._writev === 'function' && typeof (stream as Writable).cork === 'function';
  }

  async writev(pieces: Buffer[]): Promise<void> {
    if (this.error) throw this.error;
    let ok: boolean;
    if (this.vectored) {
      const stream = this.stream as Writable;
      stream.cork();
      for (const piece of pieces) ok = stream.write(piece);
      stream.uncork();
    } else {
      ok = this.stream.write(pieces.length === 1 ? pieces[0] : Buffer.concat(pieces));
    }
    if (ok!) return;
    // Backpressure: wait for the reader, or for the stream to fail (EPIPE when the reader has gone).
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        this.stream.off('drain', onDrain);
        this.stream.off('error', done);
        this.stream.off('close', onClose);
        if (err) reject(err);
        else resolve();
      };
      const onDrain = () => done();
      const onClose = () => done(this.error ?? Object.assign(new Error('output stream closed'), { code: 'EPIPE' }));
      this.stream.on('drain', onDrain);
      this.stream.on('error', done);
      this.stream.on('close', onClose);
    });
  }

  async flush(): Promise<void> {
    if (this.error) throw this.error;
    await new Promise<void>((resolve, reject) => {
      this.stream.write(Buffer.alloc(0), (err?: Error | null) => (err ? reject(err) : resolve()));
    });
    if (this.error) throw this.error;
  }

  release(): void {
    this.stream.off('error', this.onError);
  }
}

class FileSink implements ByteSink {
  constructor(private readonly handle: FileHandle) {}

  async writev(pieces: Buffer[]): Promise<void> {
    const total = pieces.reduce((n, p) => n + p.length, 0);
    const { bytesWritten } = await this.handle.writev(pieces);
    if (bytesWritten === total) return;
    // A short write (rare on regular files): write the rest from one joined buffer.
    const rest = Buffer.concat(pieces).subarray(bytesWritten);
    for (let done = 0; done < rest.length; ) done += (await this.handle.write(rest, done, rest.length - done)).bytesWritten;
  }

  async flush(): Promise<void> {}
}

/**
 * Batches the pieces of successive samples (headers, data, padding) into writes of about 1 MB without
 * copying them: a file or pipe takes them in one vectored write.
 */
class TarWriter {
  static readonly BATCH_BYTES = 1 << 20;
  /** Below the usual IOV_MAX of 1024 buffers per writev. */
  static readonly BATCH_PIECES = 1000;
  bytes = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly sink: ByteSink) {}

  async put(pieces: Buffer[]): Promise<void> {
    for (const piece of pieces) {
      this.pending.push(piece);
      this.pendingBytes += piece.length;
    }
    this.bytes += pieces.reduce((n, p) => n + p.length, 0);
    if (this.pendingBytes >= TarWriter.BATCH_BYTES || this.pending.length >= TarWriter.BATCH_PIECES) await this.drain();
  }

  /** Write the end-of-archive marker and everything pending. */
  async end(): Promise<void> {
    await this.put([END_OF_ARCHIVE]);
    await this.drain();
    await this.sink.flush();
  }

  private async drain(): Promise<void> {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    await this.sink.writev(batch);
  }
}

/** 'out-%06d.tar' → (n) => 'out-000003.tar'. Accepts one %d, %Nd or %0Nd, and %% for a literal %. */
export function shardNamer(pattern: string): ((n: number) => string) | null {
  const specs = [...pattern.matchAll(/%(%|0?\d*d)/g)].filter((m) => m[1] !== '%');
  if (specs.length > 1 || pattern.replace(/%(%|0?\d*d)/g, '').includes('%')) {
    throw invalidParameterError('output', 'a file name with at most one %d, %06d (and %% for a literal %)', pattern);
  }
  if (specs.length === 0) return null;
  return (n) =>
    pattern.replace(/%(%|0?\d*d)/g, (_, spec: string) => {
      if (spec === '%') return '%';
      const width = Number(spec.slice(0, -1) || 0);
      return String(n).padStart(width, spec.startsWith('0') ? '0' : ' ');
    });
}

/** Refuse to write tar bytes to a terminal (DESIGN.md). */
function refuseTerminal(stream: NodeJS.WritableStream): void {
  if ((stream as { isTTY?: boolean }).isTTY) {
    throw new UsageError('refusing to write tar data to a terminal: redirect stdout, pipe it, or use -o FILE');
  }
}

/** Write samples as one archive on stdout, or as shard files; resolves when everything is on disk or flushed. */
export async function writeSink(samples: AsyncIterable<Sample>, options: SinkOptions = {}): Promise<SinkResult> {
  const output = options.output ?? '-';
  if (output === '-') {
    if (options.maxCount !== undefined || options.maxSize !== undefined) {
      throw new UsageError('--max-count and --max-size split output into shard files: use them with -o name-%06d.tar');
    }
    const stream = options.stdout ?? process.stdout;
    refuseTerminal(stream);
    return writeStream(samples, stream);
  }
  const namer = shardNamer(output);
  if (namer === null && (options.maxCount !== undefined || options.maxSize !== undefined)) {
    throw invalidParameterError('output', 'a pattern with %d (e.g. out-%06d.tar) when --max-count or --max-size is given', output);
  }
  return writeShards(samples, namer ?? (() => output.replace(/%%/g, '%')), options);
}

async function writeStream(samples: AsyncIterable<Sample>, stream: NodeJS.WritableStream): Promise<SinkResult> {
  const sink = new StreamSink(stream);
  const writer = new TarWriter(sink);
  let count = 0;
  try {
    for await (const sample of samples) {
      await writer.put(encodeSample(sample).pieces);
      count++;
    }
    await writer.end();
  } finally {
    sink.release();
  }
  return { samples: count, shards: ['-'] };
}

interface OpenShard {
  name: string;
  temp: string;
  handle: FileHandle;
  writer: TarWriter;
  count: number;
}

async function openShard(name: string): Promise<OpenShard> {
  const temp = `${name}.tmp-${process.pid}`;
  const handle = await open(temp, 'w', 0o644);
  return { name, temp, handle, writer: new TarWriter(new FileSink(handle)), count: 0 };
}

async function finishShard(shard: OpenShard): Promise<void> {
  await shard.writer.end();
  await shard.handle.close();
  await rename(shard.temp, shard.name);
  debug(`wrote ${shard.name} (${shard.count} samples, ${shard.writer.bytes} bytes)`);
}

async function writeShards(samples: AsyncIterable<Sample>, nameOf: (n: number) => string, options: SinkOptions): Promise<SinkResult> {
  const maxCount = options.maxCount ?? Infinity;
  const maxSize = options.maxSize ?? Infinity;
  const written: string[] = [];
  let current: OpenShard | undefined;
  let total = 0;
  try {
    for await (const sample of samples) {
      const { pieces, size } = encodeSample(sample);
      if (
        current !== undefined &&
        (current.count >= maxCount || current.writer.bytes + size + END_OF_ARCHIVE.length > maxSize)
      ) {
        await finishShard(current);
        written.push(current.name);
        current = undefined;
      }
      current ??= await openShard(nameOf(written.length));
      await current.writer.put(pieces);
      current.count++;
      total++;
    }
    // No samples at all still gives one (empty) archive, as stdout does.
    current ??= await openShard(nameOf(written.length));
    await finishShard(current);
    written.push(current.name);
    current = undefined;
  } catch (err) {
    if (current !== undefined) {
      await current.handle.close().catch(() => undefined);
      await rm(current.temp, { force: true });
    }
    throw err;
  }
  return { samples: total, shards: written };
}

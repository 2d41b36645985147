// Sinks: one tar archive on stdout, or numbered shard files ('out-%06d.tar') split by count or size.
// A shard file is written as `<name>.tmp-<pid>` and renamed when complete; on failure the partial
// file is removed and the shards already finished stay.
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { UsageError, invalidParameterError } from '../errors.js';
import { debug } from '../log.js';
import type { Sample } from './sample.js';
import { END_OF_ARCHIVE } from './tar-format.js';
import { measureSample, writeSample, type MeasuredSample } from './tar-write.js';

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
  /**
   * Write this buffer; resolves when more may be written. `done` is called once the sink holds no
   * reference to the bytes any more, if it can know that (see `recycles`).
   */
  write(bytes: Buffer, done: () => void): Promise<void>;
  /** Whether `done` is ever called, so that the buffer may be reused. */
  readonly recycles: boolean;
  /** Wait until everything written has been handed to the OS. */
  flush(): Promise<void>;
}

class StreamSink implements ByteSink {
  /** Batches a recycling stream may hold before the writer waits: output is flushed while the next batches are encoded. */
  static readonly IN_FLIGHT = 3;
  private error: Error | undefined;
  private readonly onError = (err: Error) => {
    this.error ??= err;
  };
  /** Writes whose callback has not come yet. */
  private pending = 0;
  /** Called after each write callback while the writer waits for one. */
  private onCallback: (() => void) | undefined;

  /**
   * @param recycles the stream hands bytes to the OS before it calls a write's callback (process.stdout
   *   does; a Transform or a collecting Writable may keep them, so other streams never get reused buffers).
   *   Such a stream may also hold IN_FLIGHT batches; others get the usual backpressure (wait for 'drain').
   */
  constructor(
    private readonly stream: NodeJS.WritableStream,
    readonly recycles: boolean,
  ) {
    stream.on('error', this.onError);
  }

  async write(bytes: Buffer, done: () => void): Promise<void> {
    if (this.error) throw this.error;
    this.pending++;
    const ok = this.stream.write(bytes, (err) => {
      this.pending--;
      if (!err) done();
      this.onCallback?.();
    });
    if (ok || (this.recycles && this.pending <= StreamSink.IN_FLIGHT)) return;
    // Backpressure: wait for the reader, or for the stream to fail (EPIPE when the reader has gone).
    await new Promise<void>((resolve, reject) => {
      const finish = (err?: Error) => {
        this.stream.off('drain', onDrain);
        this.stream.off('error', finish);
        this.stream.off('close', onClose);
        this.onCallback = undefined;
        if (err) reject(err);
        else resolve();
      };
      const onDrain = () => finish();
      const onClose = () => finish(this.error ?? Object.assign(new Error('output stream closed'), { code: 'EPIPE' }));
      if (this.recycles) this.onCallback = () => this.pending <= StreamSink.IN_FLIGHT && finish();
      else this.stream.on('drain', onDrain);
      this.stream.on('error', finish);
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
  readonly recycles = true;
  constructor(private readonly handle: FileHandle) {}

  async write(bytes: Buffer, done: () => void): Promise<void> {
    for (let at = 0; at < bytes.length; ) at += (await this.handle.write(bytes, at, bytes.length - at)).bytesWritten;
    done();
  }

  async flush(): Promise<void> {}
}

/**
 * Encodes samples straight into output batches of about 1 MB (headers written in place, data copied
 * once) and hands each batch to the sink in one write. A batch buffer is reused once the sink is done
 * with it, when the sink can tell (fresh memory costs page faults and garbage collection); a sample
 * larger than a batch gets a buffer of its own.
 */
class TarWriter {
  static readonly BATCH_BYTES = 1 << 20;
  /** Batch buffers kept for reuse. */
  static readonly MAX_FREE = 4;
  /** Bytes written so far, end-of-archive marker included once written. */
  bytes = 0;
  private readonly free: Buffer[] = [];
  private out: Buffer;
  private used = 0;

  constructor(private readonly sink: ByteSink) {
    this.out = this.batchBuffer();
  }

  async put(measured: MeasuredSample): Promise<void> {
    const { size } = measured;
    if (size > this.out.length - this.used) {
      await this.drain();
      if (size > this.out.length) {
        const own = Buffer.allocUnsafeSlow(size);
        writeSample(measured, own, 0);
        this.bytes += size;
        await this.sink.write(own, () => undefined);
        return;
      }
    }
    writeSample(measured, this.out, this.used);
    this.used += size;
    this.bytes += size;
    if (this.used === this.out.length) await this.drain();
  }

  /** Write the end-of-archive marker and everything pending. */
  async end(): Promise<void> {
    if (END_OF_ARCHIVE.length > this.out.length - this.used) await this.drain();
    END_OF_ARCHIVE.copy(this.out, this.used);
    this.used += END_OF_ARCHIVE.length;
    this.bytes += END_OF_ARCHIVE.length;
    await this.drain();
    await this.sink.flush();
  }

  private batchBuffer(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(TarWriter.BATCH_BYTES);
  }

  private async drain(): Promise<void> {
    if (this.used === 0) return;
    const full = this.out;
    const batch = full.subarray(0, this.used);
    this.out = this.batchBuffer();
    this.used = 0;
    const recycle = () => {
      if (this.sink.recycles && this.free.length < TarWriter.MAX_FREE) this.free.push(full);
    };
    await this.sink.write(batch, recycle);
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

/** Refuse to write tar bytes to a terminal (docs/design.md, Shard streams). */
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
    return writeStream(samples, stream, options.stdout === undefined);
  }
  const namer = shardNamer(output);
  if (namer === null && (options.maxCount !== undefined || options.maxSize !== undefined)) {
    throw invalidParameterError('output', 'a pattern with %d (e.g. out-%06d.tar) when --max-count or --max-size is given', output);
  }
  return writeShards(samples, namer ?? (() => output.replace(/%%/g, '%')), options);
}

async function writeStream(samples: AsyncIterable<Sample>, stream: NodeJS.WritableStream, isStdout: boolean): Promise<SinkResult> {
  const sink = new StreamSink(stream, isStdout);
  const writer = new TarWriter(sink);
  let count = 0;
  try {
    for await (const sample of samples) {
      await writer.put(measureSample(sample));
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

/** Temporary shard files being written; removed if the process is interrupted (Ctrl-C, kill). */
const openTemps = new Set<string>();
let signalsHooked = false;

function removeTempsOnSignal(): void {
  if (signalsHooked) return;
  signalsHooked = true;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      for (const temp of openTemps) rmSync(temp, { force: true });
      // Die of the same signal, as the default handler would have.
      process.kill(process.pid, signal);
    });
  }
}

async function openShard(name: string): Promise<OpenShard> {
  const temp = `${name}.tmp-${process.pid}`;
  removeTempsOnSignal();
  openTemps.add(temp);
  const handle = await open(temp, 'w', 0o644);
  return { name, temp, handle, writer: new TarWriter(new FileSink(handle)), count: 0 };
}

async function finishShard(shard: OpenShard): Promise<void> {
  await shard.writer.end();
  await shard.handle.close();
  await rename(shard.temp, shard.name);
  openTemps.delete(shard.temp);
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
      const measured = measureSample(sample);
      if (
        current !== undefined &&
        (current.count >= maxCount || current.writer.bytes + measured.size + END_OF_ARCHIVE.length > maxSize)
      ) {
        await finishShard(current);
        written.push(current.name);
        current = undefined;
      }
      current ??= await openShard(nameOf(written.length));
      await current.writer.put(measured);
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
      openTemps.delete(current.temp);
    }
    throw err;
  }
  return { samples: total, shards: written };
}

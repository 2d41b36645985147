// From a labelled sample stream to training batches.
//
// Per pass (epoch) over the data:
//   open the source → check labels (LabelSet) → seeded shuffle buffer → skip (resume) →
//   decode images ahead of compute (bounded, ordered, on sharp's thread pool) → batches
// Labels are checked on every sample read, before the shuffle; images are decoded only after it, so a
// resumed run skips already-seen samples without decoding them.
//
// Sources are re-opened for every pass. stdin (`-`) can be read only once: it is recorded (encoded
// bytes, as read) while the first pass streams it, and later passes replay the recording. A recording
// stops growing past `replayLimit` bytes; a pass that then needs the part that was not kept fails with
// an error saying so. An endless stdin stream (e.g. from `mix`) trained with --steps never needs a replay,
// but its first `replayLimit` bytes are still held in memory (lower --stdin-limit to hold less).
import { InputError } from '../errors.js';
import { decodeImage, probeImage, type ResizePolicy } from '../images/codec.js';
import { detachSample, imageField, type Sample } from '../shards/sample.js';
import { BadInputs } from '../shards/bad.js';
import { shuffleItems } from '../stages/shuffle.js';
import { mapOrdered } from '../stages/map.js';
import { LabelSetError } from './labels.js';

/** Opens the samples afresh (a new pass over the data). */
export type SampleSource = () => AsyncIterable<Sample>;

/** A decoded, labelled image. */
export interface Example {
  /** HWC uint8, the model's input shape.   // [H, W, C] */
  image: Uint8Array;
  /** The class index; −1 for a sample without one (diffusion training: the null class). */
  label: number;
  /** Position of this sample in its pass's shuffled order (0-based): where a resumed pass continues. */
  position: number;
}

export interface ImageSpec {
  height: number;
  width: number;
  channels: 1 | 3;
  resize: ResizePolicy;
  /** With resize 'none': an image stored with the other channel count (gray vs colour) is an error, not converted. */
  strictChannels?: boolean;
  /** Images whose header declares more pixels are bad samples, refused before decoding (--max-pixels; default the codec's). */
  maxPixels?: number;
}

/**
 * A source that can be opened repeatedly although its input can be read only once (stdin): the first
 * reader pulls from `live` and records; readers after it replay the recording, then continue from the
 * live stream where the recording ends. Memory: the encoded samples, up to `limitBytes`.
 */
export function replayable(live: AsyncIterable<Sample>, limitBytes: number, name = 'stdin'): SampleSource {
  const recorded: Sample[] = [];
  let bytes = 0;
  let complete = false; // everything was recorded
  let truncated = false;
  let livePos = 0; // samples pulled from live
  let ended = false;
  const it = live[Symbol.asyncIterator]();
  return () =>
    (async function* () {
      for (let i = 0; ; i++) {
        if (i < recorded.length) {
          yield recorded[i];
          continue;
        }
        if (complete) return;
        if (i !== livePos || ended) {
          throw new InputError(
            `${name} can be read only once, and it held more than the ${limitBytes} bytes kept for replay: ` +
              'give files instead, raise the replay limit, or train with --steps on one pass',
            { shard: name },
          );
        }
        const next = await it.next();
        if (next.done) {
          ended = true;
          complete = !truncated;
          return;
        }
        livePos++;
        if (!truncated) {
          // Payload plus a rough per-sample overhead of the JS objects and Buffers holding it.
          const size = Object.values(next.value.fields).reduce((s, b) => s + b.length + 100, 0) + next.value.key.length + 100;
          if (bytes + size > limitBytes) truncated = true;
          else {
            recorded.push(next.value);
            bytes += size;
          }
        }
        yield next.value;
      }
    })();
}

/** Reads a sample's label, checking it (a LabelSet; the diffusion task also accepts samples without one). */
export interface Labeler {
  observe(sample: Sample): number;
}

/** Checks (and records) every sample's label; bad labels are InputErrors, or skipped and counted. */
async function* labelledWith(samples: AsyncIterable<Sample>, labels: Labeler, bad: BadInputs): AsyncGenerator<{ s: Sample; label: number }> {
  for await (const s of samples) {
    let label: number;
    try {
      label = labels.observe(s);
    } catch (err) {
      // A label set conflict is never skipped: it means the data sets disagree, not that one sample is bad.
      if (err instanceof LabelSetError) throw err;
      bad.handle(err);
      continue;
    }
    yield { s, label };
  }
}

/** The samples whose labels check out (see labelledWith). */
export async function* labelled(samples: AsyncIterable<Sample>, labels: Labeler, bad: BadInputs): AsyncGenerator<Sample> {
  for await (const { s } of labelledWith(samples, labels, bad)) yield s;
}

/** Decodes one sample's image to `spec`. */
export async function decodeSample(s: Sample, spec: ImageSpec): Promise<Uint8Array> {
  const bytes = s.fields[imageField(s)];
  if (spec.strictChannels && spec.resize === 'none') {
    const stored = (await probeImage(bytes, s, spec.maxPixels)).channels >= 3 ? 3 : 1;
    if (stored !== spec.channels) {
      const kind = (c: number) => (c === 1 ? 'gray (1 channel)' : 'colour (3 channels)');
      throw new InputError(`image is ${kind(stored)} but the model takes ${kind(spec.channels)} (choose a --resize policy to convert)`, s);
    }
  }
  return decodeImage(bytes, spec, s);
}

/**
 * The shape of the first image of a source: [H, W, C] with C = 1 for gray(+alpha), 3 for colour(+alpha).
 * An image above `maxPixels` (--max-pixels) is an InputError.
 */
export async function probeFirstImage(source: SampleSource, maxPixels?: number): Promise<[number, number, 1 | 3]> {
  const it = source()[Symbol.asyncIterator]();
  try {
    const first = await it.next();
    if (first.done) throw new InputError('the training data is empty');
    const s = first.value;
    const info = await probeImage(s.fields[imageField(s)], s, maxPixels);
    return [info.height, info.width, info.channels >= 3 ? 3 : 1];
  } finally {
    await it.return?.();
  }
}

export interface PassOptions {
  spec: ImageSpec;
  labels: Labeler;
  bad: BadInputs;
  /** Shuffle buffer in samples (0: keep the order, as for evaluation). */
  shuffleBuffer: number;
  /** Seed of this pass's shuffle. */
  seed: number;
  /** Samples of the shuffled order to pass over undecoded (a resumed pass). */
  skip?: number;
  /** Decodes kept in flight ahead of the consumer. */
  prefetch: number;
}

/** One pass over `source`: labelled, shuffled, decoded examples in order of `position`. */
export async function* examples(source: SampleSource, o: PassOptions): AsyncGenerator<Example> {
  const skip = o.skip ?? 0;
  let position = 0;
  // Labels are read before the shuffle, which moves (sample, label) pairs: a held sample may come out as a
  // detached copy, so a label is never looked up by the sample object.
  const shuffled = shuffleItems(labelledWith(source(), o.labels, o.bad), { buffer: o.shuffleBuffer, seed: o.seed }, ({ s, label }) => ({ s: detachSample(s), label }));
  async function* positioned(): AsyncGenerator<{ s: Sample; label: number; position: number }> {
    for await (const { s, label } of shuffled) {
      const p = position++;
      if (p >= skip) yield { s, label, position: p };
    }
  }
  const decoded = mapOrdered(
    positioned(),
    async ({ s, label, position: p }): Promise<Example | Error> => {
      try {
        return { image: await decodeSample(s, o.spec), label, position: p };
      } catch (err) {
        return err instanceof Error ? err : new Error(String(err));
      }
    },
    o.prefetch,
  );
  for await (const r of decoded) {
    if (r instanceof Error) {
      o.bad.handle(r);
      continue;
    }
    yield r;
  }
}

/** Groups examples into batches of `size` (the last one may be smaller). */
export async function* batches<T>(items: AsyncIterable<T>, size: number): AsyncGenerator<T[]> {
  let batch: T[] = [];
  for await (const item of items) {
    batch.push(item);
    if (batch.length === size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/** Reads a whole pass to count samples and establish the label set (no decoding). */
export async function scan(source: SampleSource, labels: Labeler, bad: BadInputs): Promise<number> {
  let n = 0;
  for await (const _ of labelled(source(), labels, bad)) n++;
  return n;
}

// Shuffle buffer (as WebDataset's `shuffle(bufsize)` and tarp's Shuffle): a seeded, approximate
// shuffle of an unbounded stream in memory bounded by `buffer` samples.
import { detachSample, type Sample, type Stage } from '../shards/sample.js';
import { Rng } from '../util/rng.js';

export interface ShuffleOptions {
  /** Samples held at once; 0 or 1 passes the stream through unchanged. */
  buffer: number;
  seed: number;
}

/**
 * Fill a buffer of `buffer` samples; then for each further input, emit a uniformly chosen buffered
 * sample and put the input in its place; at the end, emit the rest in a seeded random order.
 * Every input is emitted exactly once; a sample is emitted at most `buffer` places earlier than it came.
 */
export function shuffle({ buffer, seed }: ShuffleOptions): Stage {
  // Held samples are detached so that memory stays about `buffer` samples, not the read chunks they point into.
  return (samples) => shuffleItems(samples, { buffer, seed }, detachSample);
}

/**
 * The same shuffle over any items (the same seed gives the same order as `shuffle`); `hold` maps an item
 * as it enters the buffer, and the held item is what comes out. A caller that pairs a sample with what it
 * knows of it (a checked label) shuffles the pairs: the sample object that comes out may be a copy.
 */
export async function* shuffleItems<T>(items: AsyncIterable<T>, { buffer, seed }: ShuffleOptions, hold: (item: T) => T = (item) => item): AsyncGenerator<T> {
  if (buffer <= 1) {
    yield* items;
    return;
  }
  const rng = new Rng(seed);
  const held: T[] = [];
  for await (const item of items) {
    if (held.length < buffer) {
      held.push(hold(item));
      continue;
    }
    const j = rng.int(buffer);
    const out = held[j];
    held[j] = hold(item);
    yield out;
  }
  rng.shuffle(held);
  yield* held;
}

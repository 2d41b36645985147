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
  return async function* shuffled(samples) {
    if (buffer <= 1) {
      yield* samples;
      return;
    }
    const rng = new Rng(seed);
    const held: Sample[] = [];
    for await (const sample of samples) {
      // Held samples are detached so that memory stays about `buffer` samples, not the read chunks they point into.
      if (held.length < buffer) {
        held.push(detachSample(sample));
        continue;
      }
      const j = rng.int(buffer);
      const out = held[j];
      held[j] = detachSample(sample);
      yield out;
    }
    rng.shuffle(held);
    yield* held;
  };
}

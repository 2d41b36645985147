// Weighted random mixing of several sample streams (as WebDataset's RandomMix), with epochs, a stop
// rule, and rekeying so that keys from different sources (or passes) never collide.
import { sampleMeta, withMeta, type Sample, type Stage } from '../shards/sample.js';
import { Rng } from '../util/rng.js';

export type StopRule = 'first' | 'all' | 'resample';
export const STOP_RULES: readonly StopRule[] = ['first', 'all', 'resample'];

export interface MixInput {
  /** The source as the user wrote it, recorded in each sample's json `mix_source.spec`. */
  spec: string;
  /** Open (or re-open, for a later pass) the stream of samples. */
  open: () => AsyncIterable<Sample>;
  /** Whether open() may be called more than once (stdin may not). */
  reopenable: boolean;
}

export interface MixOptions {
  /** Sampling weight of each input (> 0), normalised over the inputs still running. */
  weights: number[];
  seed: number;
  /**
   * first: the mix ends right after the last sample of the first input to finish its passes;
   * all: inputs that finish drop out and the weights are renormalised over the rest, until none is left;
   * resample: inputs that finish start another pass, until every input has finished `epochs` passes.
   */
  stop: StopRule;
  /** Full passes over each input (default 1); more than one re-opens the input. */
  epochs?: number;
  /** Called when an input turns out to be empty (for a warning). */
  onEmpty?: (spec: string) => void;
}

/** Where a mixed sample came from: input index, spec, and pass (0 = first reading). */
export interface MixOrigin {
  index: number;
  spec: string;
  pass: number;
}

/** Key of a mixed sample: `<index>/<key>` on the first pass, `<index>-<pass>/<key>` on later ones. */
export function mixKey(origin: MixOrigin, key: string): string {
  return origin.pass === 0 ? `${origin.index}/${key}` : `${origin.index}-${origin.pass}/${key}`;
}

/**
 * A stage that rekeys each sample with mixKey and records `mix_source: {index, pass, spec}` in its
 * json (created if absent; every other json key, `source` included, is kept).
 */
export function tagOrigin(origin: MixOrigin): Stage {
  return async function* tagged(samples) {
    for await (const sample of samples) {
      const meta = sampleMeta(sample);
      yield withMeta({ ...sample, key: mixKey(origin, sample.key) }, { ...meta, mix_source: { index: origin.index, pass: origin.pass, spec: origin.spec } });
    }
  };
}

interface Lane {
  input: MixInput;
  index: number;
  iterator?: AsyncIterator<Sample>;
  pass: number;
  /** Passes read to the end. */
  finished: number;
  /** Samples read in the current pass. */
  read: number;
  /** The next sample of this lane (read ahead, so the end of an input is known as soon as it is reached). */
  head?: Sample;
  live: boolean;
}

/**
 * Mix inputs by weighted random choice. Each step draws an input among the live ones with
 * probability weight / (sum of live weights) and emits its next sample (tagged by tagOrigin).
 * Within an input, order is kept; nothing is dropped or repeated except by the stop rule
 * (`resample`, or `epochs` > 1 which reads each input that many times). Memory: one read-ahead
 * sample per input.
 */
export async function* mix(inputs: MixInput[], opts: MixOptions): AsyncGenerator<Sample> {
  const epochs = opts.epochs ?? 1;
  if (inputs.length === 0) return;
  if (opts.weights.length !== inputs.length || opts.weights.some((w) => !(w > 0) || !Number.isFinite(w))) {
    throw new RangeError(`mix: need one positive weight per input (${inputs.length}), got ${opts.weights.join(',')}`);
  }
  const rng = new Rng(opts.seed);
  const lanes: Lane[] = inputs.map((input, index) => ({ input, index, pass: -1, finished: 0, read: 0, live: true }));
  let ended = false;

  const open = (lane: Lane) => {
    if (lane.pass >= 0 && !lane.input.reopenable) throw new RangeError(`mix: input ${lane.input.spec} cannot be re-opened`);
    lane.pass++;
    lane.read = 0;
    const tagged = tagOrigin({ index: lane.index, spec: lane.input.spec, pass: lane.pass })(lane.input.open());
    lane.iterator = tagged[Symbol.asyncIterator]();
  };

  /** Read the lane's next sample; at the end of a pass, apply the epochs and the stop rule. */
  const advance = async (lane: Lane): Promise<void> => {
    for (;;) {
      const r = await lane.iterator!.next();
      if (!r.done) {
        lane.head = r.value;
        lane.read++;
        return;
      }
      lane.head = undefined;
      lane.iterator = undefined;
      lane.finished++;
      if (lane.read === 0) {
        // An input with no samples can never give one: it counts as done with all its passes.
        opts.onEmpty?.(lane.input.spec);
        lane.finished = Math.max(lane.finished, epochs);
      }
      const allFinished = lanes.every((l) => l.finished >= epochs);
      if (lane.finished < epochs) {
        open(lane);
      } else if (opts.stop === 'resample' && !allFinished && lane.read > 0) {
        open(lane);
      } else {
        lane.live = false;
        if (opts.stop === 'first' || allFinished) ended = true;
        return;
      }
    }
  };

  try {
    for (const lane of lanes) {
      open(lane);
      await advance(lane);
    }
    for (;;) {
      const live = lanes.filter((l) => l.live && l.head !== undefined);
      if (ended || live.length === 0) return;
      const total = live.reduce((s, l) => s + opts.weights[l.index], 0);
      let r = rng.random() * total;
      let pick = live[live.length - 1];
      for (const l of live) {
        r -= opts.weights[l.index];
        if (r < 0) {
          pick = l;
          break;
        }
      }
      const sample = pick.head!;
      yield sample;
      await advance(pick);
    }
  } finally {
    for (const lane of lanes) await lane.iterator?.return?.();
  }
}

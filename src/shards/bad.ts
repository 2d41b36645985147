// Skip-and-count plumbing for bad input. Without --skip-bad an InputError ends the command (exit 1);
// with it the bad sample or shard is skipped, reported, and counted, and the count is logged at the end.
import { InputError } from '../errors.js';
import { warn } from '../log.js';
import type { Sample, Stage } from './sample.js';

export interface SkipOptions {
  /** Skip bad samples/shards, counting them, instead of throwing. */
  skipBad?: boolean;
  /** Called for each skipped item (default: a warning on stderr, the first few only). */
  onBad?: (err: InputError) => void;
}

/** Warnings shown one by one before the rest are only counted. */
const SHOWN = 10;

/** Decides what to do with each bad item and keeps the count. */
export class BadInputs {
  count = 0;

  constructor(
    private readonly options: SkipOptions,
    /** What is being counted, for the summary line: "sample", "input item". */
    private readonly what = 'item',
  ) {}

  /** Rethrow `err` unless it is an InputError and skipping is on; then report and count it. */
  handle(err: unknown): void {
    if (!(err instanceof InputError) || !this.options.skipBad) throw err;
    this.count++;
    if (this.options.onBad) this.options.onBad(err);
    else if (this.count <= SHOWN) warn(`skipped: ${err.message}`);
    else if (this.count === SHOWN + 1) warn('skipped more bad input; only the total is reported from now on');
  }

  /** Log the total on stderr (once, at the end of the stream), when anything was skipped. */
  summary(): void {
    if (this.count > 0) warn(`skipped ${this.count} bad ${this.what}${this.count === 1 ? '' : 's'} (--skip-bad)`);
  }

  /** SkipOptions that route every skipped item through this counter. */
  asOptions(): SkipOptions {
    return { skipBad: this.options.skipBad, onBad: (err) => this.handle(err) };
  }
}

/**
 * A stage that passes every sample through `check`, which returns the sample (or a transformed one),
 * or undefined to drop it quietly, or throws an InputError for a bad one. Bad samples end the stream
 * unless `skipBad` is set; then they are skipped, counted, and the total logged when the stream ends.
 * Commands that parse `cls` or decode images use this for their own checks:
 *   skipBadSamples((s) => (sampleLabel(s), s), { skipBad })
 */
export function skipBadSamples(
  check: (sample: Sample) => Sample | undefined | Promise<Sample | undefined>,
  options: SkipOptions = {},
): Stage {
  return async function* (samples) {
    const bad = new BadInputs(options, 'sample');
    for await (const sample of samples) {
      let out: Sample | undefined;
      try {
        out = await check(sample);
      } catch (err) {
        bad.handle(err);
        continue;
      }
      if (out !== undefined) yield out;
    }
    bad.summary();
  };
}

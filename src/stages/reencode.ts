// Re-encode each sample's image as PNG of a declared shape (pack): decode with the codec's resize
// policy, check the label, and write `png`, `cls`, `json`. Decodes run concurrently, order is kept.
import { InputError } from '../errors.js';
import { decodeImageAs, encodePng, type PartialDecodeSpec } from '../images/codec.js';
import { BadInputs, IMAGE_FIELDS, imageField, sampleLabel, sampleMeta, withMeta, type Sample, type SkipOptions, type Stage } from '../shards/index.js';
import { mapOrdered } from './map.js';

export interface ReencodeOptions extends SkipOptions {
  /** Target size and channels (absent: as stored) and resize policy. */
  spec: PartialDecodeSpec;
  /** Labels must lie below this (--max-classes; default sampleLabel's). */
  maxClasses?: number;
  /** Decodes in flight (sharp's thread pool does the work). */
  concurrency?: number;
}

/**
 * The sample with its image field(s) replaced by one `png`, `cls` checked (a missing or non-numeric
 * label is an InputError), and json given `source: "real"` unless it names a source, and
 * `dataset: <the shard it was read from>` unless it names one. Other fields pass through.
 */
export async function reencodeSample(sample: Sample, spec: PartialDecodeSpec, maxClasses?: number): Promise<Sample> {
  const field = imageField(sample);
  sampleLabel(sample, maxClasses);
  const meta = sampleMeta(sample);
  const { pixels, shape } = await decodeImageAs(sample.fields[field], spec, sample);
  const fields = { ...sample.fields };
  for (const f of IMAGE_FIELDS) delete fields[f];
  fields.png = encodePng(pixels, shape);
  return withMeta({ ...sample, fields }, { ...meta, source: meta.source ?? 'real', ...(meta.dataset === undefined && sample.shard ? { dataset: sample.shard } : {}) });
}

/** reencodeSample over a stream; bad samples end it, or with skipBad are skipped and counted. */
export function reencode({ spec, maxClasses, concurrency = 4, ...skip }: ReencodeOptions): Stage {
  return async function* reencoded(samples) {
    const bad = new BadInputs(skip, 'sample');
    const attempt = async (s: Sample) => {
      try {
        return { sample: await reencodeSample(s, spec, maxClasses) };
      } catch (err) {
        if (!(err instanceof InputError)) throw err;
        return { error: err };
      }
    };
    for await (const r of mapOrdered(samples, attempt, concurrency)) {
      if (r.error) bad.handle(r.error);
      else yield r.sample!;
    }
    bad.summary();
  };
}

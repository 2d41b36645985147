// The unit that flows between stages: one WebDataset sample.
import { InputError } from '../errors.js';
import { imageHeaderProblem } from '../images/header.js';

/**
 * A sample is the run of adjacent tar members that share a key (member path up to the first dot of
 * the basename). `fields` maps the lower-cased rest of the name (`png`, `cls`, `json`, `seg.png`) to bytes.
 */
export interface Sample {
  key: string;
  fields: Record<string, Buffer>;
  /** Where the sample was read from (a path, `-`, `pipe:...`), for error messages; never written. */
  shard?: string;
}

/** A streaming transformation of samples, built by a factory: `shuffle({ buffer, seed })(samples)`. */
export type Stage = (samples: AsyncIterable<Sample>) => AsyncIterable<Sample>;

/** Metadata carried in the `json` field. Unknown keys pass through. */
export interface SampleMeta {
  class?: string;
  source?: string;
  [key: string]: unknown;
}

export const IMAGE_FIELDS = ['png', 'jpg', 'jpeg', 'webp'] as const;

/**
 * The name of the sample's image field, or an InputError naming shard and key: when there is none, or
 * when the bytes hold another format than the field names (a `png` field holding SVG or JPEG data).
 * The pixel limit is the decoder's to check (codec.ts).
 */
export function imageField(sample: Sample): string {
  const found = IMAGE_FIELDS.find((f) => f in sample.fields);
  if (!found) throw new InputError(`no image field (expected one of ${IMAGE_FIELDS.join(', ')})`, sample);
  const problem = imageHeaderProblem(sample.fields[found], Infinity, found);
  if (problem !== null) throw new InputError(`image does not decode: ${problem}`, sample);
  return found;
}

/** Labels are below this unless --max-classes says otherwise: nothing is sized by a label larger than it. */
export const DEFAULT_MAX_CLASSES = 100_000;

/**
 * The integer label in `cls` (decimal ASCII digits, surrounding white space allowed), checked to lie in
 * [0, maxClasses) before anything is sized by it; anything else is an InputError naming shard and key.
 */
export function sampleLabel(sample: Sample, maxClasses = DEFAULT_MAX_CLASSES): number {
  const raw = sample.fields.cls;
  if (raw === undefined) throw new InputError('missing cls field', sample);
  const text = raw.toString('latin1').trim();
  if (!/^\d+$/.test(text)) throw new InputError(`cls is not a non-negative integer: ${JSON.stringify(text.slice(0, 40))}`, sample);
  const label = text.length > 15 ? Infinity : Number(text);
  if (label >= maxClasses) {
    throw new InputError(`cls ${text.length > 40 ? `${text.slice(0, 40)}... (${text.length} digits)` : text} is not below --max-classes ${maxClasses}`, sample);
  }
  return label;
}

/** The parsed `json` field ({} when absent), or an InputError when it does not parse. */
export function sampleMeta(sample: Sample): SampleMeta {
  const raw = sample.fields.json;
  if (raw === undefined) return {};
  try {
    const value = JSON.parse(raw.toString('utf8'));
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object');
    return value as SampleMeta;
  } catch (err) {
    throw new InputError(`json field does not parse as an object: ${(err as Error).message}`, sample);
  }
}

/** A copy of the sample with its `json` field replaced (keys sorted, so output bytes are stable). */
export function withMeta(sample: Sample, meta: SampleMeta): Sample {
  const sorted = Object.fromEntries(Object.entries(meta).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return { ...sample, fields: { ...sample.fields, json: Buffer.from(JSON.stringify(sorted)) } };
}

/**
 * A sample whose small fields no longer pin large buffers. The tar reader hands out field bytes as views
 * of its large read chunks; a stage that holds samples for a while (a shuffle buffer) calls this so that
 * what it holds costs about the bytes of its fields: a view much smaller than its backing buffer is
 * copied, anything else is kept as it is (then the sample itself is returned).
 */
export function detachSample(sample: Sample): Sample {
  let fields: Record<string, Buffer> | undefined;
  for (const name in sample.fields) {
    const data = sample.fields[name];
    if (data.buffer.byteLength >= DETACH_MIN_BACKING && data.length * DETACH_RATIO < data.buffer.byteLength) {
      fields ??= { ...sample.fields };
      fields[name] = Buffer.from(data);
    }
  }
  return fields === undefined ? sample : { ...sample, fields };
}

/** detachSample copies a view when its backing buffer is at least this large (smaller ones are Node's 8 KB pool slabs)... */
const DETACH_MIN_BACKING = 64 * 1024;
/** ...and at least this many times larger than the view. */
const DETACH_RATIO = 4;

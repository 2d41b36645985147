// Encoding samples as tar members: fields sorted, fixed metadata, so identical samples give identical bytes.
// A sample is measured first (measureSample: checks and the encoded length), then written in place
// into an output buffer (writeSample): headers, data and padding with no allocation per member.
import { InputError } from '../errors.js';
import { keyProblem, sortedFields } from './keys.js';
import type { Sample } from './sample.js';
import { END_OF_ARCHIVE, memberHeaderLength, padding, writeMemberHeader } from './tar-format.js';

/** A sample checked for writing: its fields in the order they are written, and its encoded length. */
export interface MeasuredSample {
  sample: Sample;
  fields: string[];
  size: number;
}

/** Check one sample and measure its members; an InputError names the sample when its key or a field cannot round-trip. */
export function measureSample(sample: Sample): MeasuredSample {
  const problem = keyProblem(sample.key);
  if (problem) throw new InputError(`cannot write sample: ${problem}`, sample);
  const fields = sortedFields(sample.fields);
  if (fields.length === 0) throw new InputError('cannot write a sample with no fields', sample);
  let size = 0;
  for (const field of fields) {
    if (field.includes('/') || field.includes('\0')) throw new InputError(`cannot write field ${JSON.stringify(field)}: it contains "/" or NUL`, sample);
    const data = sample.fields[field];
    if (!Buffer.isBuffer(data)) throw new InputError(`field ${JSON.stringify(field)} is not bytes`, sample);
    size += memberHeaderLength(`${sample.key}.${field}`) + data.length + padding(data.length);
  }
  return { sample, fields, size };
}

/** Write a measured sample's members at byte `at` of `out` (which has room for `measured.size` bytes). */
export function writeSample(measured: MeasuredSample, out: Buffer, at: number): void {
  const { sample, fields } = measured;
  for (const field of fields) {
    const data = sample.fields[field];
    at += writeMemberHeader(out, at, `${sample.key}.${field}`, data.length);
    at += data.copy(out, at);
    const pad = padding(data.length);
    if (pad > 0) out.fill(0, at, at + pad);
    at += pad;
  }
}

/** The bytes of one sample's members (header, data, padding per field), and their total length. */
export interface EncodedSample {
  pieces: Buffer[];
  size: number;
}

/** Encode one sample; an InputError names the sample when its key or a field cannot round-trip. */
export function encodeSample(sample: Sample): EncodedSample {
  const measured = measureSample(sample);
  const out = Buffer.allocUnsafe(measured.size);
  writeSample(measured, out, 0);
  return { pieces: [out], size: measured.size };
}

/** A whole archive in memory (for tests and small outputs): the samples' members, then the end marker. */
export async function tarBytes(samples: Iterable<Sample> | AsyncIterable<Sample>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const sample of samples) parts.push(...encodeSample(sample).pieces);
  parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

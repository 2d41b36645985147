// Encoding samples as tar members: fields sorted, fixed metadata, so identical samples give identical bytes.
import { InputError } from '../errors.js';
import { keyProblem, sortedFields } from './keys.js';
import type { Sample } from './sample.js';
import { BLOCK, END_OF_ARCHIVE, encodeMemberHeader, padding } from './tar-format.js';

const ZEROS = Buffer.alloc(BLOCK);

/** The byte pieces of one sample's members (header, data, padding per field), and their total length. */
export interface EncodedSample {
  pieces: Buffer[];
  size: number;
}

/** Encode one sample; an InputError names the sample when its key or a field cannot round-trip. */
export function encodeSample(sample: Sample): EncodedSample {
  const problem = keyProblem(sample.key);
  if (problem) throw new InputError(`cannot write sample: ${problem}`, sample);
  const pieces: Buffer[] = [];
  let size = 0;
  const fields = sortedFields(sample.fields);
  if (fields.length === 0) throw new InputError('cannot write a sample with no fields', sample);
  for (const field of fields) {
    if (field.includes('/') || field.includes('\0')) throw new InputError(`cannot write field ${JSON.stringify(field)}: it contains "/" or NUL`, sample);
    const data = sample.fields[field];
    if (!Buffer.isBuffer(data)) throw new InputError(`field ${JSON.stringify(field)} is not bytes`, sample);
    const header = encodeMemberHeader(`${sample.key}.${field}`, data.length);
    const pad = padding(data.length);
    pieces.push(header);
    if (data.length > 0) pieces.push(data);
    if (pad > 0) pieces.push(ZEROS.subarray(0, pad));
    size += header.length + data.length + pad;
  }
  return { pieces, size };
}

/** A whole archive in memory (for tests and small outputs): the samples' members, then the end marker. */
export async function tarBytes(samples: Iterable<Sample> | AsyncIterable<Sample>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const sample of samples) parts.push(...encodeSample(sample).pieces);
  parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

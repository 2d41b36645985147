// Building test archives member by member, including the malformed ones a writer of samples cannot produce
// (members of one sample apart, a field twice, a cut archive).
import { END_OF_ARCHIVE, encodeMemberHeader, padding } from '../../src/shards/tar-format.js';
import type { Sample } from '../../src/shards/sample.js';

/** A tar archive of the given members, in this order, with the end-of-archive marker. */
export function rawTar(members: [name: string, data: Buffer | string][], end = true): Buffer {
  const parts: Buffer[] = [];
  for (const [name, content] of members) {
    const data = Buffer.from(content);
    parts.push(encodeMemberHeader(name, data.length), data, Buffer.alloc(padding(data.length)));
  }
  if (end) parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

/** A labelled sample with a fake image field of `size` deterministic bytes. */
export function sample(key: string, cls: number, size = 100, className = `class${cls}`): Sample {
  const png = Buffer.alloc(size);
  for (let i = 0; i < size; i++) png[i] = (i * 31 + key.length * 7 + cls) & 0xff;
  return {
    key,
    fields: {
      cls: Buffer.from(String(cls)),
      json: Buffer.from(JSON.stringify({ class: className, source: 'real' })),
      png,
    },
  };
}

/** Collect an async iterable. */
export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** An async iterable of the items, for feeding stages and sinks. */
export async function* fromArray<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

/**
 * One USTAR header block written field by field (independently of the library's writer), for members a
 * sample writer never makes: links, devices, FIFOs, directories, names of arbitrary bytes.
 */
export function headerBlock(name: Buffer | string, size: number, type = '0', linkname = ''): Buffer {
  const b = Buffer.alloc(512);
  Buffer.from(name).copy(b, 0, 0, 100);
  b.write('0000644\0', 100, 'latin1');
  b.write('0000000\0', 108, 'latin1');
  b.write('0000000\0', 116, 'latin1');
  b.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  b.write('00000000000\0', 136, 'latin1');
  b[156] = type.charCodeAt(0);
  Buffer.from(linkname).copy(b, 157, 0, 100);
  b.write('ustar\0', 257, 'latin1');
  b.write('00', 263, 'latin1');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return b;
}

/** A member: its header block, its data and the padding to a whole block. */
export function rawMember(name: Buffer | string, data: Buffer | string = '', type = '0', linkname = ''): Buffer {
  const bytes = Buffer.from(data);
  return Buffer.concat([headerBlock(name, bytes.length, type, linkname), bytes, Buffer.alloc(padding(bytes.length))]);
}

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

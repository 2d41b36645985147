// Ordered concurrent map: keeps up to `concurrency` calls of an async function in flight (e.g. image
// encodes on sharp's thread pool) and yields results in input order. Memory: at most `concurrency`
// pending results.

export async function* mapOrdered<T, U>(
  items: AsyncIterable<T> | Iterable<T>,
  fn: (item: T) => Promise<U>,
  concurrency: number,
): AsyncGenerator<U> {
  const pending: Promise<U>[] = [];
  for await (const item of items) {
    const p = fn(item);
    p.catch(() => undefined); // rejections are re-raised, in order, by the await below
    pending.push(p);
    if (pending.length >= concurrency) yield await pending.shift()!;
  }
  while (pending.length > 0) yield await pending.shift()!;
}

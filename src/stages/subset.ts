// Selections that keep a deterministic part of a stream.
import { detachSample, sampleLabel, type Sample, type Stage } from '../shards/sample.js';

/** Keep samples whose position i (0-based) has i % count === index (one worker's part). */
export function everyNth(index: number, count: number): Stage {
  return async function* part(samples) {
    let i = 0;
    for await (const sample of samples) if (i++ % count === index) yield sample;
  };
}

/** FNV-1a over the UTF-8 bytes of a string, seeded: a 32-bit hash. */
function fnv1a(text: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (const byte of Buffer.from(text, 'utf8')) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return h;
}

/** A well-mixed priority in [0, 2^32) of (seed, key): murmur3's finaliser over two FNV-1a hashes. */
export function keyPriority(key: string, seed: number): number {
  let h = fnv1a(key, seed) ^ Math.imul(fnv1a(key, seed ^ 0x5bd1e995) , 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * A seeded choice of `perClass` samples per class (by `cls`), for low-data subsets of a stream:
 * each sample gets a pseudo-random priority from (seed, key), and the `perClass` lowest per class
 * are kept, emitted at the end in their input order. The choice depends only on the seed and the
 * keys of the class (not on the order or on other classes), and is nested: the N chosen are among
 * the N+1 chosen. Memory: perClass samples per class.
 */
export function perClassSubset({ perClass, seed }: { perClass: number; seed: number }): Stage {
  return async function* subset(samples) {
    // Per class: kept entries sorted by priority (ties broken by key), at most perClass.
    const kept = new Map<number, { priority: number; order: number; sample: Sample }[]>();
    let order = 0;
    for await (const sample of samples) {
      const label = sampleLabel(sample);
      const entry = { priority: keyPriority(sample.key, seed), order: order++, sample };
      const list = kept.get(label) ?? [];
      kept.set(label, list);
      const before = (a: typeof entry, b: typeof entry) => a.priority < b.priority || (a.priority === b.priority && a.sample.key < b.sample.key);
      if (list.length === perClass && !before(entry, list[list.length - 1])) continue;
      let lo = 0;
      let hi = list.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (before(list[mid], entry)) lo = mid + 1;
        else hi = mid;
      }
      // Held until the end: copy small fields out of the large read chunks they may be views of.
      list.splice(lo, 0, { ...entry, sample: detachSample(sample) });
      if (list.length > perClass) list.pop();
    }
    const all = [...kept.values()].flat().sort((a, b) => a.order - b.order);
    for (const e of all) yield e.sample;
  };
}

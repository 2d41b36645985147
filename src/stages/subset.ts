// Selections that keep a deterministic part of a stream.
import { detachSample, sampleLabel, type Sample, type Stage } from '../shards/sample.js';
import { workerPart, type SourceOptions } from '../shards/source.js';
import { subSeed } from '../util/rng.js';

/** This worker's part of a stream (--shard-index/--num-shards), for streams that do not come from openSource. */
export function workerShare(options: Pick<SourceOptions, 'shardIndex' | 'numShards'>): Stage {
  return async function* part(samples) {
    const claim = workerPart(options);
    for await (const sample of samples) if (claim()) yield sample;
  };
}

/**
 * A seeded choice of `perClass` samples per class (by `cls`), for low-data subsets of a stream:
 * each sample gets a pseudo-random priority subSeed(seed, 'per-class', key), and the `perClass` lowest per class
 * are kept, emitted at the end in their input order. The choice depends only on the seed and the
 * keys of the class (not on the order or on other classes), and is nested: the N chosen are among
 * the N+1 chosen. Memory: perClass samples per class. A label not below `maxClasses` is an InputError.
 */
export function perClassSubset({ perClass, seed, maxClasses }: { perClass: number; seed: number; maxClasses?: number }): Stage {
  return async function* subset(samples) {
    // Per class: kept entries sorted by priority (ties broken by key), at most perClass.
    const kept = new Map<number, { priority: number; order: number; sample: Sample }[]>();
    let order = 0;
    for await (const sample of samples) {
      const label = sampleLabel(sample, maxClasses);
      const entry = { priority: subSeed(seed, 'per-class', sample.key), order: order++, sample };
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

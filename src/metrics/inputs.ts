// What a side of a metric command names, and the feature batches read from it:
//   FILE.npz   saved statistics (mu, sigma[, n]) — no images are read;
//   DIR        a folder of images: every png/jpg/jpeg/webp below it, recursively, in byte order of the relative
//              path (no labels); a folder with no images at its top level but class subfolders is read as an
//              ImageFolder (labels = class index), as every other command reads it;
//   anything else: shard sources (tar files, brace patterns, '::' lists, - for stdin, pipe:COMMAND).
// --shard-index/--num-shards keep the images whose index i in that order has i % num-shards == shard-index.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../errors.js';
import { decodeImage, decodeImageAs } from '../images/codec.js';
import type { FeatureExtractor } from '../models/extractor.js';
import { BadInputs, filesBelow, imageField, imageFileKey, openSource, partition, sampleLabel, type Sample, type SourceOptions } from '../shards/index.js';
import { progress } from '../stages/progress.js';

export type MetricInput = { kind: 'stats'; path: string } | { kind: 'images'; spec: string };

export function metricInput(spec: string): MetricInput {
  return spec.toLowerCase().endsWith('.npz') ? { kind: 'stats', path: spec } : { kind: 'images', spec };
}

/** One batch of extracted features: [count, D] features, [count, K] logits, and labels when asked for. */
export interface FeatureBatch {
  count: number;
  features: Float32Array;
  logits: Float32Array;
  labels?: number[];
}

export interface ReadOptions extends SourceOptions {
  batchSize: number;
  /** Read `cls` of every sample (an InputError naming shard and key when missing). */
  labels?: boolean;
  /** Progress label on stderr. */
  label?: string;
}

/** Whether a directory holds image files at its top level (then it is read as a plain image folder). */
async function hasTopLevelImages(dir: string): Promise<boolean> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (!e.name.startsWith('.') && e.isFile() && imageFileKey(e.name) !== null) return true;
  }
  return false;
}

/** Every image below `dir` (recursively, byte order), one sample each, no label. */
async function* readImageTree(dir: string, options: SourceOptions): AsyncGenerator<Sample> {
  const { index, count } = partition(options);
  const bad = new BadInputs(options, 'image');
  let i = 0;
  for (const rel of await filesBelow(dir)) {
    const parsed = imageFileKey(rel);
    if (parsed === null) continue;
    if (i++ % count !== index) continue;
    try {
      const bytes = await readFile(join(dir, rel)).catch((err: Error) => {
        throw new InputError(`cannot read ${rel}: ${err.message}`, { shard: dir, key: parsed.stem });
      });
      yield { key: parsed.stem, fields: { [parsed.field]: bytes }, shard: dir };
    } catch (err) {
      bad.handle(err);
    }
  }
  bad.summary();
}

/** The samples a side names (see the header). */
export async function imageSamples(spec: string, options: SourceOptions): Promise<AsyncIterable<Sample>> {
  const isDir = await stat(spec).then((s) => s.isDirectory(), () => false);
  if (isDir && (await hasTopLevelImages(spec))) return readImageTree(spec, options);
  return openSource([spec], options);
}

/**
 * Decoded images in batches through the extractor. Images are decoded as RGB or gray as the extractor wants
 * (gray repeated to RGB); an extractor with a fixed input size gets them resized by the codec (center-crop),
 * one that resizes itself gets each at its own size, a batch ending early when the size changes.
 */
export async function* featureBatches(samples: AsyncIterable<Sample>, extractor: FeatureExtractor, options: ReadOptions): AsyncGenerator<FeatureBatch> {
  const bad = new BadInputs(options, 'sample');
  const [h, w, c] = extractor.inputShape;
  const channels = c === 1 ? 1 : 3;
  let pending: Array<Promise<{ pixels: Uint8Array; size: [number, number]; label?: number } | undefined>> = [];
  const decode = (s: Sample) =>
    (async () => {
      try {
        const label = options.labels ? sampleLabel(s) : undefined;
        const bytes = s.fields[imageField(s)];
        if (extractor.anySize) {
          const { pixels, shape } = await decodeImageAs(bytes, { channels: 3, resize: 'none' }, s);
          return { pixels, size: [shape.height, shape.width] as [number, number], label };
        }
        const pixels = await decodeImage(bytes, { width: w, height: h, channels, resize: 'center-crop' }, s);
        return { pixels, size: [h, w] as [number, number], label };
      } catch (err) {
        bad.handle(err);
        return undefined;
      }
    })();

  async function* run(items: Array<{ pixels: Uint8Array; size: [number, number]; label?: number }>): AsyncGenerator<FeatureBatch> {
    // split into runs of one size
    let start = 0;
    while (start < items.length) {
      let end = start + 1;
      const [sh, sw] = items[start].size;
      while (end < items.length && items[end].size[0] === sh && items[end].size[1] === sw) end++;
      const group = items.slice(start, end);
      const per = group[0].pixels.length;
      const buf = new Uint8Array(per * group.length);
      group.forEach((g, i) => buf.set(g.pixels, i * per));
      const { features, logits } = await extractor.extract(buf, group.length, [sh, sw]);
      yield { count: group.length, features, logits, labels: options.labels ? group.map((g) => g.label!) : undefined };
      start = end;
    }
  }

  for await (const sample of progress({ label: options.label ?? 'images' })(samples)) {
    pending.push(decode(sample));
    if (pending.length >= options.batchSize) {
      const items = (await Promise.all(pending)).filter((x) => x !== undefined);
      pending = [];
      yield* run(items);
    }
  }
  const items = (await Promise.all(pending)).filter((x) => x !== undefined);
  yield* run(items);
  bad.summary();
}

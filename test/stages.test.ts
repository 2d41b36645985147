// Pure stages on in-memory iterables: shuffle buffer, take, ordered map, and the weighted mix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { shuffle } from '../src/stages/shuffle.js';
import { take } from '../src/stages/take.js';
import { mapOrdered } from '../src/stages/map.js';
import { mix, mixKey, type MixInput, type MixOptions } from '../src/stages/mix.js';
import { withMeta, type Sample } from '../src/shards/sample.js';
import { perClassSubset, workerShare } from '../src/stages/subset.js';
import { subSeed } from '../src/util/rng.js';
import { reencode } from '../src/stages/reencode.js';
import { progress } from '../src/stages/progress.js';
import { decodeImage, encodePng } from '../src/images/codec.js';
import { InputError } from '../src/errors.js';

function sample(key: string, meta?: object): Sample {
  const fields: Record<string, Buffer> = { cls: Buffer.from('1'), png: Buffer.from(`img-${key}`) };
  if (meta) fields.json = Buffer.from(JSON.stringify(meta));
  return { key, fields };
}

async function* fromArray(items: Sample[], probe?: { pulled: number; closed: boolean }): AsyncGenerator<Sample> {
  try {
    for (const s of items) {
      if (probe) probe.pulled++;
      yield s;
    }
  } finally {
    if (probe) probe.closed = true;
  }
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const keys = (n: number, prefix = 'k') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

// ---------------------------------------------------------------- shuffle

test('shuffle: a permutation, seeded, bounded displacement, pass-through at buffer 0', async () => {
  const input = keys(200).map((k) => sample(k));
  const a = (await collect(shuffle({ buffer: 16, seed: 3 })(fromArray(input)))).map((s) => s.key);
  assert.deepEqual([...a].sort(), keys(200).sort(), 'every sample exactly once');
  assert.notDeepEqual(a, keys(200));
  assert.deepEqual((await collect(shuffle({ buffer: 16, seed: 3 })(fromArray(input)))).map((s) => s.key), a);
  assert.notDeepEqual((await collect(shuffle({ buffer: 16, seed: 4 })(fromArray(input)))).map((s) => s.key), a);
  a.forEach((k, out) => assert.ok(Number(k.slice(1)) <= out + 16, `${k} emitted at ${out}: moved more than the buffer`));
  for (const buffer of [0, 1]) {
    assert.deepEqual((await collect(shuffle({ buffer, seed: 3 })(fromArray(input)))).map((s) => s.key), keys(200));
  }
});

test('shuffle: holds at most `buffer` samples', async () => {
  const probe = { pulled: 0, closed: false };
  let emitted = 0;
  let maxHeld = 0;
  for await (const _ of shuffle({ buffer: 10, seed: 1 })(fromArray(keys(500).map((k) => sample(k)), probe))) {
    emitted++;
    maxHeld = Math.max(maxHeld, probe.pulled - emitted);
  }
  assert.equal(emitted, 500);
  assert.ok(maxHeld <= 10, `held ${maxHeld}`);
});

test('shuffle: with a buffer as large as the stream, positions are uniform over seeds', async () => {
  const n = 8;
  const seeds = 1600;
  const counts = new Array(n).fill(0);
  for (let seed = 0; seed < seeds; seed++) {
    const out = await collect(shuffle({ buffer: n, seed })(fromArray(keys(n).map((k) => sample(k)))));
    counts[out.findIndex((s) => s.key === 'k0')]++;
  }
  // Each position expects 200; binomial sd ≈ 13.2, allow ±5 sd.
  for (const c of counts) assert.ok(Math.abs(c - seeds / n) < 66, `position counts ${counts}`);
});

// ---------------------------------------------------------------- take, mapOrdered

test('take stops after n and closes the upstream', async () => {
  const probe = { pulled: 0, closed: false };
  const out = await collect(take(3)(fromArray(keys(10).map((k) => sample(k)), probe)));
  assert.deepEqual(out.map((s) => s.key), ['k0', 'k1', 'k2']);
  assert.equal(probe.pulled, 3);
  assert.ok(probe.closed);
  assert.equal((await collect(take(0)(fromArray([sample('a')])))).length, 0);
});

test('mapOrdered keeps order, bounds concurrency, raises errors in order', async () => {
  let running = 0;
  let peak = 0;
  const delays = [30, 1, 20, 5, 1, 15, 2, 9, 1, 3];
  const out = await collect(
    mapOrdered(delays.map((d, i) => [d, i] as const), async ([d, i]) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, d));
      running--;
      return i;
    }, 3),
  );
  assert.deepEqual(out, delays.map((_, i) => i));
  assert.ok(peak <= 3 && peak >= 2, `peak ${peak}`);
  const got: number[] = [];
  await assert.rejects(async () => {
    for await (const v of mapOrdered([1, 2, 3, 4], async (x) => {
      if (x === 3) throw new Error('boom at 3');
      await new Promise((r) => setTimeout(r, 5));
      return x;
    }, 4)) got.push(v);
  }, /boom at 3/);
  assert.deepEqual(got, [1, 2]);
});

// ---------------------------------------------------------------- mix

interface Counted extends MixInput {
  opens: number;
  closes: number;
}

function input(spec: string, n: number, { reopenable = true, meta = true } = {}): Counted {
  const inp: Counted = {
    spec,
    reopenable,
    opens: 0,
    closes: 0,
    open() {
      inp.opens++;
      const items = keys(n, `${spec}-`).map((k) => sample(k, meta ? { class: 'x', source: 'real' } : undefined));
      return (async function* () {
        try {
          yield* items;
        } finally {
          inp.closes++;
        }
      })();
    },
  };
  return inp;
}

const run = (inputs: MixInput[], opts: Partial<MixOptions>) =>
  collect(mix(inputs, { weights: inputs.map(() => 1), seed: 0, stop: 'all', ...opts }));

test('mix --stop all: every input key exactly once, rekeyed, in input order, json annotated', async () => {
  const inputs = [input('a', 40), input('b', 7, { meta: false }), input('c', 25)];
  const out = await run(inputs, { weights: [1, 2, 0.5], seed: 42 });
  assert.equal(out.length, 72);
  assert.equal(new Set(out.map((s) => s.key)).size, 72, 'keys never collide');
  const want = [...keys(40, 'a-').map((k) => `0/${k}`), ...keys(7, 'b-').map((k) => `1/${k}`), ...keys(25, 'c-').map((k) => `2/${k}`)];
  assert.deepEqual(out.map((s) => s.key).sort(), want.sort());
  for (const [i, name] of ['a', 'b', 'c'].entries()) {
    const mine = out.filter((s) => s.key.startsWith(`${i}/`)).map((s) => s.key);
    assert.deepEqual(mine, mine.slice().sort((x, y) => Number(x.split('-')[1]) - Number(y.split('-')[1])), `${name} keeps its order`);
  }
  const first = out.find((s) => s.key === '0/a-3')!;
  assert.deepEqual(JSON.parse(first.fields.json.toString()), { class: 'x', mix_source: { index: 0, pass: 0, spec: 'a' }, source: 'real' });
  assert.equal(first.fields.png.toString(), 'img-a-3', 'other fields untouched');
  const noJson = out.find((s) => s.key === '1/b-0')!;
  assert.deepEqual(JSON.parse(noJson.fields.json.toString()), { mix_source: { index: 1, pass: 0, spec: 'b' } });
  assert.ok(inputs.every((i) => i.opens === 1 && i.closes === 1));
});

test('mix: same seed same order, another seed another order', async () => {
  const order = async (seed: number) => (await run([input('a', 30), input('b', 30)], { seed })).map((s) => s.key);
  assert.deepEqual(await order(5), await order(5));
  assert.notDeepEqual(await order(5), await order(6));
});

test('mix: weights are sampling probabilities', async () => {
  const out = await run([input('a', 5000), input('b', 5000)], { weights: [3, 1], stop: 'first', seed: 9 });
  const head = out.slice(0, 2000);
  const share = head.filter((s) => s.key.startsWith('0/')).length / head.length;
  // Expected 0.75; binomial sd ≈ 0.0097, allow 4 sd.
  assert.ok(Math.abs(share - 0.75) < 0.04, `share of a: ${share}`);
});

test('mix --stop first: ends right after the last sample of the first input to run out', async () => {
  const inputs = [input('a', 5), input('b', 200)];
  const out = await run(inputs, { stop: 'first', seed: 1 });
  assert.equal(out.filter((s) => s.key.startsWith('0/')).length, 5);
  assert.equal(out[out.length - 1].key, '0/a-4');
  assert.ok(out.length < 205);
  assert.equal(inputs[1].closes, 1, 'the unfinished input is closed');
});

test('mix --stop resample: finished inputs restart until every input has done its passes', async () => {
  const inputs = [input('a', 3), input('b', 30)];
  const out = await run(inputs, { stop: 'resample', seed: 2 });
  const b = out.filter((s) => s.key.startsWith('1'));
  assert.deepEqual(b.map((s) => s.key), keys(30, 'b-').map((k) => `1/${k}`), 'b exactly once, in order');
  assert.equal(out[out.length - 1].key, '1/b-29');
  const a = out.filter((s) => s.key.startsWith('0'));
  assert.ok(a.length > 3 && inputs[0].opens > 1, `a read ${inputs[0].opens} times`);
  // Each pass of a is a prefix of a in order, keyed by its pass.
  for (let pass = 0; pass < inputs[0].opens; pass++) {
    const got = a.filter((s) => s.key.startsWith(pass === 0 ? '0/' : `0-${pass}/`)).map((s) => s.key);
    assert.deepEqual(got, keys(got.length, 'a-').map((k) => mixKey({ index: 0, spec: 'a', pass }, k)));
    assert.ok(pass === inputs[0].opens - 1 || got.length === 3, 'all but the last pass are complete');
  }
  const meta = JSON.parse(a.find((s) => s.key.startsWith('0-1/'))!.fields.json.toString());
  assert.deepEqual(meta.mix_source, { index: 0, pass: 1, spec: 'a' });
});

test('mix --epochs 2 --stop all: every key exactly twice, once per pass', async () => {
  const out = await run([input('a', 6), input('b', 4)], { epochs: 2, seed: 3 });
  assert.equal(out.length, 20);
  const want = [0, 1].flatMap((pass) => [
    ...keys(6, 'a-').map((k) => mixKey({ index: 0, spec: 'a', pass }, k)),
    ...keys(4, 'b-').map((k) => mixKey({ index: 1, spec: 'b', pass }, k)),
  ]);
  assert.deepEqual(out.map((s) => s.key).sort(), want.sort());
});

test('mix: empty inputs, a non-reopenable input, early close, bad json', async () => {
  const empty: string[] = [];
  const all = await run([input('a', 4), input('e', 0)], { onEmpty: (s) => empty.push(s) });
  assert.equal(all.length, 4);
  assert.deepEqual(empty, ['e']);
  assert.equal((await run([input('a', 4), input('e', 0)], { stop: 'first' })).length, 0);
  assert.equal((await run([input('a', 4), input('e', 0)], { stop: 'resample' })).length, 4);

  await assert.rejects(run([input('a', 2, { reopenable: false })], { epochs: 2 }), /cannot be re-opened/);

  const inputs = [input('a', 100), input('b', 100)];
  const firstThree = await collect(take(3)(mix(inputs, { weights: [1, 1], seed: 0, stop: 'all' })));
  assert.equal(firstThree.length, 3);
  assert.ok(inputs.every((i) => i.closes === 1), 'inputs are closed when the consumer stops');

  const bad: MixInput = { spec: 'bad.tar', reopenable: true, open: () => fromArray([{ key: 'x1', shard: 'bad.tar', fields: { json: Buffer.from('{nope') } }]) };
  await assert.rejects(run([bad], {}), (err: unknown) => err instanceof InputError && /shard bad\.tar, sample x1: json/.test(err.message));
});

// ---------------------------------------------------------------- subsets, reencode, progress

test('perClassSubset: N per class, seeded by key, order kept, nested in N, independent of order', async () => {
  const items: Sample[] = Array.from({ length: 60 }, (_, i) => ({ key: `s${i}`, fields: { cls: Buffer.from(String(i % 3)) } }));
  const pick = async (n: number, seed: number, input = items) => (await collect(perClassSubset({ perClass: n, seed })(fromArray(input)))).map((s) => s.key);
  const four = await pick(4, 1);
  assert.equal(four.length, 12);
  for (const c of [0, 1, 2]) assert.equal(four.filter((k) => Number(k.slice(1)) % 3 === c).length, 4);
  assert.deepEqual(four, [...four].sort((a, b) => Number(a.slice(1)) - Number(b.slice(1))), 'input order kept');
  assert.deepEqual(await pick(4, 1), four);
  assert.notDeepEqual(await pick(4, 2), four);
  const five = new Set(await pick(5, 1));
  assert.ok(four.every((k) => five.has(k)), 'nested');
  assert.deepEqual(new Set(await pick(4, 1, [...items].reverse())), new Set(four), 'same choice whatever the input order');
  assert.equal((await pick(100, 1)).length, 60);
  await assert.rejects(pick(1, 1, [{ key: 'nolabel', fields: {} }]), InputError);
});

test('subSeed spreads keys evenly; workerShare partitions by position', async () => {
  const buckets = new Array(10).fill(0);
  for (let i = 0; i < 10000; i++) buckets[Math.floor((subSeed(0, 'per-class', `img-${i}`) / 2 ** 53) * 10)]++;
  for (const b of buckets) assert.ok(Math.abs(b - 1000) < 150, `buckets ${buckets}`); // sd ≈ 30
  // The low bit of consecutive keys: FNV-1a alone would alternate it with the last character.
  const lowBits = Array.from({ length: 1000 }, (_, i) => subSeed(0, 'per-class', `img-${i}`) % 2);
  const flips = lowBits.slice(1).filter((b, i) => b !== lowBits[i]).length;
  assert.ok(Math.abs(flips - 500) < 80, `${flips} flips`); // sd ≈ 16
  const items = keys(10).map((k) => sample(k));
  const parts = await Promise.all([0, 1, 2].map(async (i) => (await collect(workerShare({ shardIndex: i, numShards: 3 })(fromArray(items)))).map((s) => s.key)));
  assert.deepEqual(parts, [['k0', 'k3', 'k6', 'k9'], ['k1', 'k4', 'k7'], ['k2', 'k5', 'k8']]);
});

test('reencode: image to png of the declared shape, label checked, json completed, skip-bad counts', async () => {
  const pixels = Uint8Array.from({ length: 8 * 6 * 3 }, (_, i) => i % 251);
  const webp = await sharp(pixels, { raw: { width: 8, height: 6, channels: 3 } }).webp({ lossless: true }).toBuffer();
  const good: Sample = { key: 'a/1', shard: 'dir', fields: { webp, cls: Buffer.from('2'), txt: Buffer.from('keep me') } };
  const noLabel: Sample = { key: 'a/2', shard: 'dir', fields: { png: encodePng(pixels, { width: 8, height: 6, channels: 3 }) } };
  const broken: Sample = { key: 'a/3', shard: 'dir', fields: { png: Buffer.from('nope'), cls: Buffer.from('1') } };
  const spec = { width: 4, height: 4, channels: 1 as const, resize: 'center-crop' as const };
  const [out] = await collect(reencode({ spec })(fromArray([good])));
  assert.deepEqual(Object.keys(out.fields).sort(), ['cls', 'json', 'png', 'txt']);
  assert.deepEqual(JSON.parse(out.fields.json.toString()), { dataset: 'dir', source: 'real' });
  assert.equal((await decodeImage(out.fields.png, { ...spec, resize: 'none' })).length, 16);
  await assert.rejects(collect(reencode({ spec })(fromArray([good, noLabel]))), /sample a\/2: missing cls/);
  await assert.rejects(collect(reencode({ spec })(fromArray([broken]))), /sample a\/3: image does not decode/);
  const skipped: string[] = [];
  const kept = await collect(reencode({ spec, skipBad: true, onBad: (e) => skipped.push(e.key!) })(fromArray([noLabel, good, broken, good])));
  assert.equal(kept.length, 2);
  assert.deepEqual(skipped, ['a/2', 'a/3']);
  const synthetic = withMeta(good, { class: 'x', source: 'synthetic', dataset: 'gen' });
  const [s] = await collect(reencode({ spec })(fromArray([synthetic])));
  assert.deepEqual(JSON.parse(s.fields.json.toString()), { class: 'x', dataset: 'gen', source: 'synthetic' });
});

test('progress is a pass-through when stderr is not a terminal', async () => {
  const items = keys(5).map((k) => sample(k));
  const out = await collect(progress({ total: 5, stream: { isTTY: false } as NodeJS.WriteStream })(fromArray(items)));
  assert.deepEqual(out, items);
});

// End-to-end: the built `synthaug pack` over Fashion-MNIST and over an ImageFolder directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, runShell, tempDir, ROOT } from './helpers/cli.js';
import { openSource, type Sample } from '../src/shards/index.js';
import { collect } from './helpers/tar.js';
import { decodeImage } from '../src/images/codec.js';
import { fashionMnistRecords } from '../src/datasets/fashion-mnist.js';

function samplesOf(path: string): Promise<Sample[]> {
  return collect(openSource([path]));
}

const meta = (s: Sample) => JSON.parse(s.fields.json.toString()) as Record<string, unknown>;

test('pack --dataset fashion-mnist --per-class: counts, keys, labels, pixels; same seed same bytes', async (t) => {
  const dir = tempDir(t);
  const args = ['pack', '--dataset', 'fashion-mnist', '--split', 'test', '--per-class', '5', '--classes', '2,7', '--seed', '4'];
  const a = await runCli(args);
  assert.equal(a.code, 0, a.stderr);
  const b = await runCli(args);
  assert.ok(a.stdout.equals(b.stdout), 'same seed, same bytes');
  const c = await runCli([...args.slice(0, -1), '5']);
  assert.ok(!a.stdout.equals(c.stdout), 'another seed, another subset');

  writeFileSync(join(dir, 'a.tar'), a.stdout);
  const samples = await samplesOf(join(dir, 'a.tar'));
  assert.equal(samples.length, 10);
  assert.deepEqual(samples.map((s) => s.fields.cls.toString()), ['2', '7', '2', '7', '2', '7', '2', '7', '2', '7']);
  const recs = [];
  for await (const r of fashionMnistRecords({ split: 'test', perClass: 5, seed: 4, classes: [2, 7] })) recs.push(r);
  for (const [i, s] of samples.entries()) {
    assert.match(s.key, /^fmnist-test-c[27]-\d{6}$/);
    assert.deepEqual(Object.keys(s.fields).sort(), ['cls', 'json', 'png']);
    assert.deepEqual(meta(s), { class: i % 2 ? 'sneaker' : 'pullover', dataset: 'fashion-mnist', index: recs[i].index, source: 'real', split: 'test' });
    const px = await decodeImage(s.fields.png, { width: 28, height: 28, channels: 1, resize: 'none' });
    assert.deepEqual(Array.from(px), Array.from(recs[i].pixels));
  }

  // `ls` sees the class table.
  const ls = await runShell(`$SYNTHAUG pack ${args.join(' ')} | $SYNTHAUG ls --json ${join(dir, 'a.tar')}`);
  assert.equal(ls.code, 0, ls.stderr);
  assert.equal(JSON.parse(ls.stdout.toString()).samples, 10);
});

test('pack a whole class of the test split into size-limited shards', async (t) => {
  const dir = tempDir(t);
  const r = await runCli(['pack', '--dataset', 'fashion-mnist', '--split', 'test', '--classes', '4', '-o', join(dir, 't-%06d.tar'), '--max-count', '300']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.length, 0, 'nothing on stdout');
  const shards = readdirSync(dir).sort();
  assert.deepEqual(shards, ['t-000000.tar', 't-000001.tar', 't-000002.tar', 't-000003.tar']);
  const counts = await Promise.all(shards.map(async (f) => (await samplesOf(join(dir, f))).length));
  assert.deepEqual(counts, [300, 300, 300, 100]);
  const last = await samplesOf(join(dir, 't-000003.tar'));
  assert.equal(last[last.length - 1].key, 'fmnist-test-c4-000999');
});

test('pack --dataset with --size/--channels re-encodes; option errors exit 2', async () => {
  const r = await runCli(['pack', '--dataset', 'fashion-mnist', '--split', 'test', '--per-class', '1', '--classes', '1', '--size', '32', '--channels', '3', '--resize', 'pad']);
  assert.equal(r.code, 0, r.stderr);
  const cases: string[][] = [
    ['pack'],
    ['pack', 'somedir', '--dataset', 'fashion-mnist'],
    ['pack', '--dataset', 'fashion-mnist', '--split', 'test', '--per-class', '1001'],
    ['pack', '--dataset', 'fashion-mnist', '--split', 'val'],
    ['pack', '--dataset', 'fashion-mnist', '--classes', '3,12'],
    ['pack', '--dataset', 'fashion-mnist', '--size', '12x'],
    ['pack', '--dataset', 'mnist'],
  ];
  const results = await Promise.all(cases.map((args) => runCli(args)));
  for (const [i, args] of cases.entries()) {
    const bad = results[i];
    assert.equal(bad.code, 2, `${args.join(' ')}: ${bad.stderr}`);
    assert.match(bad.stderr, /^synthaug: /);
    assert.equal(bad.stdout.length, 0);
  }
});

/** An ImageFolder tree from the codec fixtures: classes `cat` (3 images) and `dog` (2 images). */
function imageFolder(root: string): string {
  const fix = (name: string) => join(ROOT, 'fixtures', 'images', name);
  mkdirSync(join(root, 'cat', 'sub'), { recursive: true });
  mkdirSync(join(root, 'dog'), { recursive: true });
  copyFileSync(fix('gradient.png'), join(root, 'cat', 'a.png'));
  copyFileSync(fix('gradient.jpg'), join(root, 'cat', 'b.jpg'));
  copyFileSync(fix('rgba.png'), join(root, 'cat', 'sub', 'c.png'));
  copyFileSync(fix('gradient-gray.png'), join(root, 'dog', 'd.png'));
  copyFileSync(fix('gradient.webp'), join(root, 'dog', 'e.webp'));
  return root;
}

test('pack an ImageFolder: keep size and channels by default, or a declared size', async (t) => {
  const dir = tempDir(t);
  const root = imageFolder(join(dir, 'folder'));
  const r = await runCli(['pack', root, '-o', join(dir, 'keep.tar')]);
  assert.equal(r.code, 0, r.stderr);
  const kept = await samplesOf(join(dir, 'keep.tar'));
  assert.deepEqual(kept.map((s) => s.key), ['cat/a', 'cat/b', 'cat/sub/c', 'dog/d', 'dog/e']);
  assert.deepEqual(kept.map((s) => s.fields.cls.toString()), ['0', '0', '0', '1', '1']);
  assert.ok(kept.every((s) => Object.keys(s.fields).sort().join() === 'cls,json,png'), 'jpg/webp became png');
  assert.deepEqual(meta(kept[1]), { class: 'cat', dataset: root, source: 'real' });
  // Sizes and channels as stored: 32x24 RGB, 4x2 RGB (alpha flattened), 32x24 gray.
  const shapes = [
    [32, 24, 3],
    [32, 24, 3],
    [4, 2, 3],
    [32, 24, 1],
    [32, 24, 3],
  ];
  for (const [i, [width, height, channels]] of shapes.entries()) {
    const px = await decodeImage(kept[i].fields.png, { width, height, channels: channels as 1 | 3, resize: 'none' });
    assert.equal(px.length, width * height * channels, kept[i].key);
  }
  const original = await decodeImage(readFileSync(join(root, 'cat', 'a.png')), { width: 32, height: 24, channels: 3, resize: 'none' });
  assert.deepEqual(Array.from(await decodeImage(kept[0].fields.png, { width: 32, height: 24, channels: 3, resize: 'none' })), Array.from(original));

  const sized = await runCli(['pack', root, '--size', '16x12', '--channels', '1', '--resize', 'stretch']);
  assert.equal(sized.code, 0, sized.stderr);
  writeFileSync(join(dir, 'sized.tar'), sized.stdout);
  for (const s of await samplesOf(join(dir, 'sized.tar'))) {
    assert.equal((await decodeImage(s.fields.png, { width: 16, height: 12, channels: 1, resize: 'none' })).length, 16 * 12, s.key);
  }

  const none = await runCli(['pack', root, '--size', '16', '--resize', 'none']);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /sample cat\/a: image is 32x24 but 16x16 was declared/);
});

test('pack an ImageFolder with a bad image: exit 1 naming it, or --skip-bad counts it', async (t) => {
  const dir = tempDir(t);
  const root = imageFolder(join(dir, 'folder'));
  copyFileSync(join(ROOT, 'fixtures', 'images', 'garbage.png'), join(root, 'dog', 'broken.png'));
  const fail = await runCli(['pack', root, '-o', join(dir, 'out.tar')]);
  assert.equal(fail.code, 1);
  assert.match(fail.stderr, new RegExp(`shard ${root}, sample dog/broken: image does not decode`));
  assert.deepEqual(readdirSync(dir), ['folder'], 'no output file, not even a partial one');

  const skip = await runCli(['pack', root, '--skip-bad', '-o', join(dir, 'out.tar')]);
  assert.equal(skip.code, 0, skip.stderr);
  assert.match(skip.stderr, /skipped 1 bad sample/);
  assert.equal((await samplesOf(join(dir, 'out.tar'))).length, 5);

  // --per-class on a folder: a seeded choice per class, stable for a seed.
  const pick = async (seed: number) => (await runCli(['pack', root, '--skip-bad', '--per-class', '1', '--seed', String(seed)])).stdout;
  const one = await pick(3);
  assert.ok(one.equals(await pick(3)));
  writeFileSync(join(dir, 'one.tar'), one);
  assert.deepEqual((await samplesOf(join(dir, 'one.tar'))).map((s) => s.fields.cls.toString()), ['0', '1']);
});

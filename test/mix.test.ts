// End-to-end: the built `synthaug mix` in pipelines with `synthaug pack`.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, runShell } from './helpers/cli.js';
import { openSource, type Sample } from '../src/shards/index.js';
import { collect } from './helpers/tar.js';

const dir = mkdtempSync(join(tmpdir(), 'synthaug-mix-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const real = join(dir, 'real.tar'); // test split, classes 0 and 1, 6 per class
const other = join(dir, 'other.tar'); // train split, class 5, 9 images
const PACK_REAL = 'pack --dataset fashion-mnist --split test --per-class 6 --classes 0,1 --seed 1';

async function samplesOf(bytes: Buffer): Promise<Sample[]> {
  const path = join(dir, `read-${Math.random().toString(36).slice(2)}.tar`);
  writeFileSync(path, bytes);
  return collect(openSource([path]));
}

before(async () => {
  const [a, b] = await Promise.all([runCli(PACK_REAL.split(' ')), runCli('pack --dataset fashion-mnist --per-class 9 --classes 5'.split(' '))]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  writeFileSync(real, a.stdout);
  writeFileSync(other, b.stdout);
});

test('pack | mix - other.tar --stop all: every input key exactly once, with its source recorded', async () => {
  const r = await runShell(`$SYNTHAUG ${PACK_REAL} | $SYNTHAUG mix - ${other} --weights 1,1 --stop all --seed 7`);
  assert.equal(r.code, 0, r.stderr);
  const out = await samplesOf(r.stdout);
  assert.equal(out.length, 21);
  const inReal = (await samplesOf(readFileSync(real))).map((s) => `0/${s.key}`);
  const inOther = (await samplesOf(readFileSync(other))).map((s) => `1/${s.key}`);
  assert.deepEqual(out.map((s) => s.key).sort(), [...inReal, ...inOther].sort());
  for (const s of out) {
    const meta = JSON.parse(s.fields.json.toString());
    const index = Number(s.key[0]);
    assert.deepEqual(meta.mix_source, { index, pass: 0, spec: index === 0 ? '-' : other });
    assert.equal(meta.source, 'real');
    assert.equal(meta.dataset, 'fashion-mnist');
  }
  // Both sources contribute early on (weights 1,1), not one after the other.
  const firstTen = out.slice(0, 10).map((s) => s.key[0]);
  assert.ok(firstTen.includes('0') && firstTen.includes('1'), firstTen.join(''));
});

test('same seed and inputs give byte-identical output; another seed does not', async () => {
  const args = ['mix', real, other, '--weights', '2,1', '--shuffle-buffer', '5', '--seed', '11'];
  const [a, b, c] = await Promise.all([runCli(args), runCli(args), runCli([...args.slice(0, -1), '12'])]);
  assert.equal(a.code, 0, a.stderr);
  assert.ok(a.stdout.length > 0 && a.stdout.equals(b.stdout));
  assert.ok(!a.stdout.equals(c.stdout));
  assert.equal((await samplesOf(c.stdout)).length, 21);
});

test('--count, --stop first, --stop resample and --epochs', async () => {
  const [count, first, resample, epochs] = await Promise.all([
    runCli(['mix', real, other, '--count', '5']),
    runCli(['mix', real, other, '--stop', 'first', '--seed', '3']),
    runCli(['mix', real, other, '--weights', '1,3', '--stop', 'resample', '--seed', '3']),
    runCli(['mix', real, other, '--epochs', '2']),
  ]);
  for (const r of [count, first, resample, epochs]) assert.equal(r.code, 0, r.stderr);
  assert.equal((await samplesOf(count.stdout)).length, 5);

  const f = await samplesOf(first.stdout);
  const last = f[f.length - 1].key[0];
  assert.equal(f.filter((s) => s.key[0] === last).length, last === '0' ? 12 : 9, 'the finished source is complete');
  assert.ok(f.length < 21);

  // other.tar (9) is drawn 3x as often as real.tar (12): it is re-read until real.tar is done.
  const rs = await samplesOf(resample.stdout);
  assert.equal(rs.filter((s) => s.key.startsWith('0/')).length, 12);
  assert.ok(rs.some((s) => s.key.startsWith('1-1/')), 'other.tar was read a second time');
  assert.ok(rs[rs.length - 1].key.startsWith('0/'));

  const ep = await samplesOf(epochs.stdout);
  assert.equal(ep.length, 42);
  assert.equal(new Set(ep.map((s) => s.key)).size, 42);
});

test('usage errors: stdin cannot be re-read, weights must match the sources', async () => {
  const cases = [
    ['mix', '-', other, '--stop', 'resample'],
    ['mix', '-', other, '--epochs', '2'],
    ['mix', '-', '-'],
    ['mix', real, other, '--weights', '1'],
    ['mix', real, other, '--weights', '1,0'],
    ['mix', real, '--shuffle-buffer', '-1'],
    ['mix', real, '--no-such-option'],
  ];
  const results = await Promise.all(cases.map((args) => runCli(args, { input: '' })));
  for (const [i, r] of results.entries()) {
    assert.equal(r.code, 2, `${cases[i].join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout.length, 0);
  }
  assert.match(results[0].stderr, /stdin \(-\) cannot be re-read/);
  const missing = await runCli(['mix', real, join(dir, 'missing.tar')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /missing\.tar: no such file/);
});

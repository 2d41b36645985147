// End to end: the built binary in pipelines over tiny Fashion-MNIST subsets (WASM backend, a narrow
// ResNet-20, a few steps). `pack | train-classifier -` then `--evaluate`; `cas`; usage and label errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, runShell } from './helpers/cli.js';
import { writeSink } from '../src/shards/index.js';
import { openSource } from '../src/shards/index.js';
import type { Sample } from '../src/shards/sample.js';

const env = { SYNTHAUG_BACKEND: 'wasm' };
const tiny = ['--batch-size', '32', '--arch-option', 'width=4'];
let dir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'synthaug-train-e2e-'));
  const packs = [
    ['--split', 'test', '--per-class', '5', '-o', join(dir, 'test.tar')],
    ['--per-class', '10', '--seed', '1', '-o', join(dir, 'train.tar')],
    ['--per-class', '10', '--seed', '2', '-o', join(dir, 'gen.tar')],
  ];
  for (const p of packs) {
    const r = await runCli(['pack', '--dataset', 'fashion-mnist', ...p], { env });
    assert.equal(r.code, 0, r.stderr);
  }
  // The test set with the names of labels 0 and 1 swapped: a label-set mismatch.
  const swapped = async function* (): AsyncGenerator<Sample> {
    for await (const s of openSource([join(dir, 'test.tar')])) {
      const meta = JSON.parse(s.fields.json.toString());
      if (meta.class === 'tshirt-top') meta.class = 'trouser';
      else if (meta.class === 'trouser') meta.class = 'tshirt-top';
      yield { ...s, fields: { ...s.fields, json: Buffer.from(JSON.stringify(meta)) } };
    }
  };
  await writeSink(swapped(), { output: join(dir, 'swapped.tar') });
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('pack | train-classifier - --steps N --val, then --evaluate gives the same metrics', async () => {
  const clf = join(dir, 'clf');
  const r = await runShell(
    `$SYNTHAUG pack --dataset fashion-mnist --per-class 20 | $SYNTHAUG train-classifier - --steps 8 ${tiny.join(' ')} --val ${join(dir, 'test.tar')} -o ${clf} --json`,
    { env },
  );
  assert.equal(r.code, 0, r.stderr);
  const trained = JSON.parse(r.stdout.toString());
  assert.equal(trained.count, 50);
  assert.equal(trained.numClasses, 10);
  assert.equal(trained.classNames[9], 'ankle-boot');
  assert.equal(trained.confusion.flat().reduce((s: number, v: number) => s + v, 0), 50);
  assert.match(r.stderr, /trained 8 steps/);
  for (const f of ['config.json', 'model.safetensors', 'log.jsonl', 'metrics.json', 'checkpoint/trainer.json', 'checkpoint/optimizer.safetensors']) {
    assert.ok(existsSync(join(clf, f)), f);
  }
  const config = JSON.parse(readFileSync(join(clf, 'config.json'), 'utf8'));
  assert.deepEqual(config.inputShape, [28, 28, 1]);
  assert.equal(config.classNames[0], 'tshirt-top');
  // Evaluate-only, JSON and human line; metrics.json written under -o.
  const out = join(dir, 'eval');
  const e = await runCli(['train-classifier', '--evaluate', clf, '--val', join(dir, 'test.tar'), '--json', '-o', out], { env });
  assert.equal(e.code, 0, e.stderr);
  const evaluated = JSON.parse(e.stdout.toString());
  assert.equal(evaluated.top1, trained.top1);
  assert.deepEqual(evaluated.confusion, trained.confusion);
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')), evaluated);
  const h = await runCli(['train-classifier', '--evaluate', clf, join(dir, 'test.tar')], { env });
  assert.equal(h.code, 0, h.stderr);
  assert.match(h.stdout.toString(), /^top-1 \d+\.\d\d%  top-5 \d+\.\d\d%.*\(50 images, 10 classes\)\n$/);
  // Evaluating on data whose class names disagree with the classifier's: exit 1, shard and key named.
  const bad = await runCli(['train-classifier', '--evaluate', clf, '--val', join(dir, 'swapped.tar')], { env });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /swapped\.tar, sample \S+: label \d is named "(trouser|tshirt-top)" here but/);
  assert.equal(bad.stdout.length, 0);
});

test('cas: generated-only training tested on real data, with the real baseline side by side', async () => {
  const out = join(dir, 'cas');
  const r = await runCli(
    ['cas', join(dir, 'gen.tar'), '--test', join(dir, 'test.tar'), '--real-train', join(dir, 'train.tar'), '-o', out, '--steps', '3', ...tiny, '--json'],
    { env },
  );
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout.toString());
  assert.equal(result.cas.count, 50);
  assert.equal(result.real.count, 50);
  assert.equal(result.cas.perClass.length, 10);
  assert.equal(result.ratio.top1, result.real.top1 > 0 ? result.cas.top1 / result.real.top1 : 0);
  assert.deepEqual(result.steps, { generated: 3, real: 3 });
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'cas.json'), 'utf8')), result);
  assert.ok(existsSync(join(out, 'generated', 'config.json')) && existsSync(join(out, 'real', 'config.json')));
  // Generated data whose class names disagree with the real test data is refused.
  const bad = await runCli(['cas', join(dir, 'swapped.tar'), '--test', join(dir, 'test.tar'), '-o', join(dir, 'cas-bad'), '--steps', '1', ...tiny], { env });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /test\.tar, sample \S+: label \d is named .* in the generated training data/);
});

test('usage errors exit 2 before any work', async () => {
  const noOut = await runCli(['train-classifier', join(dir, 'train.tar'), '--steps', '1'], { env });
  assert.equal(noOut.code, 2);
  assert.match(noOut.stderr, /-o\/--output/);
  const badLr = await runCli(['train-classifier', join(dir, 'train.tar'), '-o', join(dir, 'x'), '--lr', 'fast'], { env });
  assert.equal(badLr.code, 2);
  assert.match(badLr.stderr, /Expected a positive number for --lr but received "fast"/);
  const noCk = await runCli(['train-classifier', join(dir, 'train.tar'), '-o', join(dir, 'none'), '--resume'], { env });
  assert.equal(noCk.code, 2);
  assert.match(noCk.stderr, /holds no checkpoint/);
  const unknown = await runCli(['train-classifier', join(dir, 'train.tar'), '-o', join(dir, 'x'), '--bogus'], { env });
  assert.equal(unknown.code, 2);
});

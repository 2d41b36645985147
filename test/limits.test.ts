// The limits on hostile input (--max-classes, --max-pixels, --max-member-size) in the commands that train
// on samples: train-classifier, cas and finetune read them like every other reader of samples, and apply
// them where labels are parsed, images probed and decoded, and tar members read; and so does fid on a plain
// folder of images. Tiny data (8x8 gray PNGs,
// a few samples), tiny models (WASM backend), one step.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePng } from '../src/images/codec.js';
import { initBackend } from '../src/backend/index.js';
import { createClassifier } from '../src/models/registry.js';
import { saveClassifier } from '../src/models/store.js';
import { tarBytes, type Sample } from '../src/shards/index.js';
import { runCli } from './helpers/cli.js';

const env = { SYNTHAUG_BACKEND: 'wasm' };
const CLASSIFIER = ['--steps', '1', '--batch-size', '4', '--arch-option', 'width=4', '--shuffle-buffer', '0'];
const DIFFUSION = ['--max-steps', '1', '--batch-size', '4', '--micro-batch', '4', '--shuffle-buffer', '0', '--backend', 'wasm'];
const UNET = ['--arch-option', 'baseChannels=8', 'groups=4', 'channelMult=1,2', 'numResBlocks=1'];
let dir: string;

/** A gray size x size PNG sample of class `cls`, with `extra` bytes of json padding. */
function sample(key: string, cls: string, size = 8, extra = 0): Sample {
  const px = Uint8Array.from({ length: size * size }, (_, i) => (i * 37 + Number(cls.slice(0, 3)) * 50) % 256);
  return {
    key,
    fields: {
      png: encodePng(px, { width: size, height: size, channels: 1 }),
      cls: Buffer.from(cls),
      json: Buffer.from(JSON.stringify({ class: `c${cls}`, pad: 'x'.repeat(extra) })),
    },
  };
}

/** Eight good samples of classes 0 and 1, with `odd` inserted as the third. */
async function shard(name: string, odd?: Sample): Promise<string> {
  const samples = Array.from({ length: 8 }, (_, i) => sample(`s${i}`, String(i % 2)));
  if (odd) samples.splice(2, 0, odd);
  const file = join(dir, name);
  writeFileSync(file, await tarBytes(samples));
  return file;
}

let labelTar: string;
let bigTar: string;
let paddedTar: string;
let goodTar: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'synthaug-limits-'));
  goodTar = await shard('good.tar');
  labelTar = await shard('label.tar', sample('bad', '5'));
  bigTar = await shard('big.tar', sample('big', '1', 12));
  paddedTar = await shard('padded.tar', sample('fat', '0', 8, 5000));
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('train-classifier: --max-classes, --max-pixels and --max-member-size are applied; --skip-bad skips', async () => {
  const out = (name: string) => ['-o', join(dir, name)];
  const label = await runCli(['train-classifier', labelTar, ...out('l1'), '--max-classes', '5', ...CLASSIFIER], { env });
  assert.equal(label.code, 1, label.stderr);
  assert.match(label.stderr, /shard .*label\.tar, sample bad: cls 5 is not below --max-classes 5/);
  const skipped = await runCli(['train-classifier', labelTar, ...out('l2'), '--max-classes', '5', '--skip-bad', ...CLASSIFIER], { env });
  assert.equal(skipped.code, 0, skipped.stderr);
  assert.match(skipped.stderr, /skipped 1 bad sample/);

  // The 12x12 image would be stretched to 8x8 without the limit; above --max-pixels 100 it is refused.
  const big = await runCli(['train-classifier', bigTar, ...out('p1'), '--max-pixels', '100', '--resize', 'stretch', ...CLASSIFIER], { env });
  assert.equal(big.code, 1, big.stderr);
  assert.match(big.stderr, /shard .*big\.tar, sample big: .*image is 12x12 = 144 pixels, above the limit of 100/);
  // The first image, probed for the input shape, is checked too.
  const first = await runCli(['train-classifier', goodTar, ...out('p2'), '--max-pixels', '63', ...CLASSIFIER], { env });
  assert.equal(first.code, 1, first.stderr);
  assert.match(first.stderr, /shard .*good\.tar, sample s0: .*image is 8x8 = 64 pixels, above the limit of 63/);

  const member = await runCli(['train-classifier', paddedTar, ...out('m1'), '--max-member-size', '4k', ...CLASSIFIER], { env });
  assert.equal(member.code, 1, member.stderr);
  assert.match(member.stderr, /shard .*padded\.tar, sample fat: member "fat\.json" has \d+ bytes, more than --max-member-size 4000/);

  const evaluate = await runCli(['train-classifier', '--evaluate', join(dir, 'l2'), '--val', labelTar, '--max-classes', '5'], { env });
  assert.equal(evaluate.code, 1, evaluate.stderr);
  assert.match(evaluate.stderr, /sample bad: cls 5 is not below --max-classes 5/);
});

test('cas: --max-classes applies to the generated and the test data', async () => {
  const r = await runCli(['cas', goodTar, '--test', labelTar, '-o', join(dir, 'cas'), '--max-classes', '5', ...CLASSIFIER], { env });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /shard .*label\.tar, sample bad: cls 5 is not below --max-classes 5/);
});

test('finetune: --max-classes, --max-pixels and --max-member-size are applied; --skip-bad skips', async () => {
  const out = (name: string) => ['-o', join(dir, name)];
  const label = await runCli(['finetune', labelTar, ...out('f1'), '--max-classes', '5', ...DIFFUSION, ...UNET]);
  assert.equal(label.code, 1, label.stderr);
  assert.match(label.stderr, /shard .*label\.tar, sample bad: cls 5 is not below --max-classes 5/);
  const skipped = await runCli(['finetune', labelTar, ...out('f2'), '--max-classes', '5', '--skip-bad', '--json', ...DIFFUSION, ...UNET]);
  assert.equal(skipped.code, 0, skipped.stderr);
  assert.match(skipped.stderr, /skipped 1 bad sample/);
  assert.deepEqual(JSON.parse(skipped.stdout.toString()).classNames, ['c0', 'c1']);

  const big = await runCli(['finetune', bigTar, ...out('f3'), '--max-pixels', '100', '--resize', 'stretch', ...DIFFUSION, ...UNET]);
  assert.equal(big.code, 1, big.stderr);
  assert.match(big.stderr, /shard .*big\.tar, sample big: .*image is 12x12 = 144 pixels, above the limit of 100/);

  const member = await runCli(['finetune', paddedTar, ...out('f4'), '--max-member-size', '4k', '--skip-bad', ...DIFFUSION, ...UNET]);
  assert.equal(member.code, 0, member.stderr);
  assert.match(member.stderr, /member "fat\.json" has \d+ bytes, more than --max-member-size 4000/);
});

test('pack: --max-classes applies when re-encoding and to --per-class', async () => {
  for (const extra of [[], ['--per-class', '2']]) {
    const r = await runCli(['pack', labelTar, '--max-classes', '5', '-o', join(dir, 'packed.tar'), ...extra]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /shard .*label\.tar, sample bad: cls 5 is not below --max-classes 5/);
  }
  const skipped = await runCli(['pack', labelTar, '--max-classes', '5', '--skip-bad', '--per-class', '4', '-o', join(dir, 'packed.tar')]);
  assert.equal(skipped.code, 0, skipped.stderr);
  assert.match(skipped.stderr, /skipped 1 bad sample/);
  const listed = await runCli(['ls', join(dir, 'packed.tar'), '--json']);
  assert.equal(JSON.parse(listed.stdout.toString()).samples, 8);
});

test('fid: --max-member-size and --max-pixels apply to a plain folder of images', async () => {
  await initBackend('cpu');
  const clf = join(dir, 'features');
  const model = createClassifier({ arch: 'resnet20', numClasses: 2, inputShape: [8, 8, 1], options: { width: 4 } }, 1);
  await saveClassifier(clf, model, { classNames: ['c0', 'c1'], normalization: { mean: [0.5], std: [0.25] } });
  model.dispose();
  const folder = join(dir, 'images');
  mkdirSync(folder);
  const small = sample('s', '0').fields.png;
  const big = sample('big', '1', 40).fields.png;
  assert.ok(small.length < big.length);
  for (let i = 0; i < 4; i++) writeFileSync(join(folder, `s${i}.png`), small);
  writeFileSync(join(folder, 'big.png'), big);
  const f = ['--features', clf, '--backend', 'cpu', '--save-stats', join(dir, 'stats.npz')];
  const member = await runCli(['fid', folder, ...f, '--max-member-size', String(big.length - 1), '--skip-bad']);
  assert.equal(member.code, 0, member.stderr);
  assert.match(member.stderr, /big\.png has \d+ bytes, more than --max-member-size \d+/);
  const pixels = await runCli(['fid', folder, ...f, '--max-pixels', '100']);
  assert.equal(pixels.code, 1, pixels.stderr);
  assert.match(pixels.stderr, /shard .*images, sample big: .*image is 40x40 = 1600 pixels, above the limit of 100/);
});

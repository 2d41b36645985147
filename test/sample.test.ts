// `synthaug sample` end to end on a tiny randomly initialised U-Net saved as a diffusion model directory:
// the same seed gives the same bytes at any --batch-size, --shard-index/--num-shards runs together make
// exactly the single run's samples, fields and metadata, class selection and its errors, the contact sheet.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UNet, defaultUNetConfig } from '../src/models/unet.js';
import { EDM_DEFAULTS } from '../src/diffusion/edm.js';
import { saveDiffusionModel } from '../src/diffusion/model.js';
import { readTar, type Sample } from '../src/shards/index.js';
import { probeImage } from '../src/images/codec.js';
import { runCli } from './helpers/cli.js';
import { collect, fromArray } from './helpers/tar.js';
import { writeTinyDiffusionModel } from './helpers/tiny-diffusion.js';

const CLASSES = ['cat', 'dog', 'bird'];
let modelDir = '';
let work = '';

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'synthaug-sample-'));
  modelDir = join(work, 'model');
  await writeTinyDiffusionModel(modelDir, CLASSES);
});

async function sampleTar(args: string[]): Promise<Sample[]> {
  const r = await runCli(['sample', '-m', modelDir, '--backend', 'cpu', '--steps', '3', ...args]);
  assert.equal(r.code, 0, r.stderr);
  return collect(readTar(fromArray([r.stdout]), '-'));
}

const meta = (s: Sample) => JSON.parse(s.fields.json.toString()) as Record<string, unknown>;
const asMap = (samples: Sample[]) => new Map(samples.map((s) => [s.key, s]));

test('the same seed gives byte-identical samples at any --batch-size (ancestral noise included); another seed differs', async () => {
  const base = ['--count', '7', '--sampler', 'ddpm', '--guidance', '1.5', '--seed', '5'];
  const [one, three, all] = await Promise.all([sampleTar([...base, '--batch-size', '1']), sampleTar([...base, '--batch-size', '3']), sampleTar([...base, '--batch-size', '64'])]);
  assert.equal(one.length, 7);
  for (const other of [three, all]) {
    assert.deepEqual(other.map((s) => s.key), one.map((s) => s.key));
    other.forEach((s, i) => assert.ok(Object.entries(s.fields).every(([f, b]) => b.equals(one[i].fields[f])), `sample ${s.key} differs`));
  }
  const reseeded = await sampleTar([...base.slice(0, -1), '6', '--batch-size', '3']);
  assert.ok(reseeded.some((s, i) => !s.fields.png.equals(one[i].fields.png)));
});

test('--shard-index i --num-shards n runs put together are exactly the single run', async () => {
  const base = ['--per-class', '3', '--sampler', 'heun', '--seed', '1', '--batch-size', '2'];
  const whole = await sampleTar(base);
  const parts = await Promise.all([0, 1, 2, 3].map((i) => sampleTar([...base, '--shard-index', String(i), '--num-shards', '4'])));
  const joined = parts.flat();
  assert.equal(joined.length, whole.length);
  const byKey = asMap(joined);
  for (const s of whole) {
    const t = byKey.get(s.key);
    assert.ok(t, `${s.key} missing from the parts`);
    for (const f of Object.keys(s.fields)) assert.ok(t.fields[f].equals(s.fields[f]), `${s.key}.${f} differs`);
  }
  // worker i makes the global indices i, i + n, ...
  assert.deepEqual(parts[1].map((s) => meta(s).index), [1, 5]);
});

test('fields: png of the model shape, cls, json with class, source, seed, guidance, steps, sampler, digest; classes interleaved', async () => {
  const samples = await sampleTar(['--count', '5', '--classes', 'bird,0', '--guidance', '2', '--sampler', 'dpmpp-2m', '--seed', '9']);
  assert.deepEqual(samples.map((s) => s.fields.cls.toString()), ['2', '0', '2', '0', '2']);
  const digest = readFileSync(join(modelDir, 'config.json'), 'utf8').match(/"ema":\s*\{[^}]*"sha256":\s*"([0-9a-f]+)"/)![1];
  const m = meta(samples[1]);
  assert.deepEqual(m, { class: 'cat', guidance: 2, index: 1, model_digest: digest, sampler: 'dpmpp-2m', seed: 9, source: 'synthetic', steps: 3, weights: 'ema' });
  const info = await probeImage(samples[0].fields.png);
  assert.deepEqual([info.width, info.height, info.channels], [8, 8, 1]);
  assert.equal(new Set(samples.map((s) => s.fields.png.toString('hex'))).size, 5);
});

test('an unknown class is an error listing the model\'s classes (exit 1); bad options exit 2', async () => {
  const r = await runCli(['sample', '-m', modelDir, '--backend', 'cpu', '--count', '2', '--classes', 'cat,horse']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no class "horse".*0 cat, 1 dog, 2 bird/);
  const both = await runCli(['sample', '-m', modelDir, '--count', '2', '--per-class', '2']);
  assert.equal(both.code, 2, both.stderr);
  const missing = await runCli(['sample', '-m', join(work, 'nope'), '--count', '2', '--backend', 'cpu']);
  assert.equal(missing.code, 1, missing.stderr);
});

test('a model trained without labels samples unconditionally: no cls, guidance 0, a warning', async () => {
  const dir = join(work, 'uncond');
  const cfg = { ...defaultUNetConfig, baseChannels: 8, groups: 4, numResBlocks: 1, dropout: 0, imageSize: 8, inChannels: 1, numClasses: 0, channelMult: [1, 2] };
  const net = new UNet(cfg, 3);
  await saveDiffusionModel(dir, net, net.stateDict(), {
    classNames: [],
    conditional: false,
    formulation: { name: 'edm', ...EDM_DEFAULTS },
    labelMap: { init: null, rows: [] },
    emaDecay: 0.999,
  });
  net.dispose();
  const grid = join(work, 'uncond.png');
  const r = await runCli(['sample', '-m', dir, '--backend', 'cpu', '--steps', '2', '--per-class', '2', '--guidance', '2', '--grid', grid]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /trained without labels/);
  const samples = await collect(readTar(fromArray([r.stdout]), '-'));
  assert.equal(samples.length, 2);
  assert.ok(samples.every((s) => s.fields.cls === undefined && meta(s).class === undefined && meta(s).guidance === 0));
  assert.equal((await probeImage(readFileSync(grid))).height, 16 + 2 + 2, 'one row');
});

test('-o pattern --max-count writes shards; --grid writes one labelled row per class', async () => {
  const grid = join(work, 'grid.png');
  const r = await runCli(['sample', '-m', modelDir, '--backend', 'cpu', '--steps', '2', '--per-class', '2', '-o', join(work, 'synth-%06d.tar'), '--max-count', '4', '--grid', grid, '--grid-columns', '2']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(readdirSync(work).filter((f) => f.startsWith('synth-')).sort(), ['synth-000000.tar', 'synth-000001.tar']);
  const info = await probeImage(readFileSync(grid));
  // 3 rows of 16-pixel cells (8×8 images at scale 2) with 2-pixel gaps
  assert.equal(info.height, 3 * (16 + 2) + 2);
  assert.ok(info.width > 2 * (16 + 2));
});

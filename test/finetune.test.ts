// Diffusion training on the one loop, with a tiny U-Net (8 base channels, 4×4 gray images, a few steps):
// resume gives the same bytes as a straight run, the time budget stops cleanly with a checkpoint, --init
// rebuilds the class table by name, unlabelled samples train the null row, and bad images and output
// directories are refused with clear errors. Plus the end-to-end command with its exit codes.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { encodePng } from '../src/images/codec.js';
import { Rng } from '../src/util/rng.js';
import { InputError, UsageError } from '../src/errors.js';
import type { Sample } from '../src/shards/sample.js';
import { tarBytes } from '../src/shards/index.js';
import { finetune, type FinetuneOptions } from '../src/training/diffusion.js';
import { loadDiffusionModel } from '../src/diffusion/model.js';
import { runCli } from './helpers/cli.js';
import { nativeMissing } from './helpers/native.js';

before(async () => {
  await initBackend('wasm');
});

const TINY = { baseChannels: 8, groups: 4, channelMult: '1,2', numResBlocks: 1, attentionHeads: 2, dropout: 0.2 };

/** count 4×4 images; class k (name `names[k]`) has mean brightness 60 + 120·k; every third without cls when unlabelled is set. */
async function images(count: number, o: { names?: string[]; size?: number; channels?: 1 | 3; shard?: string; unlabelled?: boolean } = {}): Promise<Sample[]> {
  const names = o.names ?? ['dark', 'bright'];
  const size = o.size ?? 4;
  const channels = o.channels ?? 1;
  const rng = new Rng(count);
  const out: Sample[] = [];
  for (let i = 0; i < count; i++) {
    const k = i % names.length;
    const px = Uint8Array.from({ length: size * size * channels }, () => Math.min(255, 60 + 120 * k + rng.int(60)));
    const fields: Record<string, Buffer> = { png: await encodePng(px, { width: size, height: size, channels }) };
    if (!(o.unlabelled && i % 3 === 0)) {
      fields.cls = Buffer.from(String(k));
      fields.json = Buffer.from(JSON.stringify({ class: names[k] }));
    }
    out.push({ key: `img${String(i).padStart(3, '0')}`, shard: o.shard ?? 'train.tar', fields });
  }
  return out;
}

const sourceOf = (samples: Sample[]) => () =>
  (async function* () {
    yield* samples;
  })();

const dirs: string[] = [];
async function outDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'synthaug-ft-'));
  dirs.push(d);
  return join(d, 'model');
}
test.after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

let data: Sample[];
before(async () => {
  data = await images(24);
});

function opts(out: string, over: Partial<FinetuneOptions> = {}): FinetuneOptions {
  return { source: sourceOf(data), outDir: out, archOptions: TINY, maxSteps: 4, batchSize: 8, microBatch: 4, lr: 1e-3, warmup: 1, ema: 0.9, seed: 3, shuffleBuffer: 16, progress: 'none', ...over };
}

const bytes = async (dir: string) => Promise.all(['model.safetensors', 'ema.safetensors'].map((f) => readFile(join(dir, f))));

test('k steps, stop, --resume to N gives the same weight bytes (raw and EMA) as N steps straight', async () => {
  const straight = await outDir();
  const r = await finetune(opts(straight));
  assert.equal(r.steps, 4);
  assert.equal(r.stopped, 'done');
  const cut = await outDir();
  const stop = new AbortController();
  const first = await finetune(opts(cut, { saveEvery: 2, signal: stop.signal, onStep: (s) => s === 3 && stop.abort() }));
  assert.equal(first.stopped, 'aborted');
  const trainer = JSON.parse(await readFile(join(cut, 'checkpoint', 'trainer.json'), 'utf8'));
  assert.equal(trainer.step, 2);
  assert.equal(trainer.kind, 'diffusion');
  const resumed = await finetune(opts(cut, { resume: true }));
  assert.equal(resumed.steps, 4);
  const [a, b] = [await bytes(straight), await bytes(cut)];
  assert.ok(a[0].equals(b[0]), 'raw weights differ');
  assert.ok(a[1].equals(b[1]), 'EMA weights differ');
  // Another seed trains other weights; the EMA is not the raw weights.
  const other = await outDir();
  await finetune(opts(other, { seed: 4 }));
  assert.ok(!(await bytes(other))[0].equals(a[0]));
  assert.ok(!a[0].equals(a[1]));
  // The log: JSON lines with loss, images/s and peak RSS.
  const log = (await readFile(join(straight, 'log.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(log.length > 0 && log.every((l) => l.type === 'train' && Number.isFinite(l.loss) && l.imagesPerSec > 0 && l.peakRssMB > 0));
});

test('a run built from a preset resumes (config.json and trainer.json list the U-Net options in another order)', async () => {
  const out = await outDir();
  const preset = { preset: 'fmnist', ...TINY, imageSize: 4 };
  const stop = new AbortController();
  const first = await finetune(opts(out, { archOptions: preset, maxSteps: 3, saveEvery: 1, signal: stop.signal, onStep: (s) => s === 2 && stop.abort() }));
  assert.equal(first.stopped, 'aborted');
  assert.equal((await finetune(opts(out, { archOptions: preset, maxSteps: 3, resume: true }))).steps, 3);
});

test('a time budget stops cleanly after a step with a checkpoint that --resume continues', async () => {
  const out = await outDir();
  const r = await finetune(opts(out, { timeBudget: 1e-6 }));
  assert.equal(r.stopped, 'time');
  assert.equal(r.steps, 1);
  assert.equal(JSON.parse(await readFile(join(out, 'checkpoint', 'trainer.json'), 'utf8')).step, 1);
  const m = await loadDiffusionModel(out);
  m.dispose();
  const more = await finetune(opts(out, { resume: true }));
  assert.equal(more.steps, 4);
  // No temporary file or directory is left behind.
  assert.deepEqual((await readdir(out)).sort(), ['checkpoint', 'config.json', 'ema.safetensors', 'log.jsonl', 'model.safetensors']);
});

test('--init rebuilds the class table by name: matched rows kept, new classes fresh random rows, null row carried', async () => {
  const first = await outDir();
  await finetune(opts(first, { maxSteps: 2 }));
  const init = await loadDiffusionModel(first); // EMA weights, what --init starts from
  const initTable = init.net.stateDict().get('class_embed')!.arraySync() as number[][]; // [3, E]: dark, bright, null
  init.dispose();
  const out = await outDir();
  const newData = await images(12, { names: ['bright', 'medium', 'light'] });
  const r = await finetune(opts(out, { source: sourceOf(newData), init: first, maxSteps: 1, lr: 1e-12, archOptions: {} }));
  assert.deepEqual(r.classNames, ['bright', 'medium', 'light']);
  assert.deepEqual(r.labelMap.rows.map((x) => x.initIndex), [1, null, null]);
  const m = await loadDiffusionModel(out, { weights: 'raw' });
  const table = m.net.stateDict().get('class_embed')!.arraySync() as number[][]; // [4, E]
  const close = (a: number[], b: number[]) => a.every((v, i) => Math.abs(v - b[i]) < 1e-6);
  assert.ok(close(table[0], initTable[1]), 'bright keeps its row');
  // New classes: rows of their own, drawn as a model built from scratch draws them, not copies of the null row.
  assert.ok(!close(table[1], initTable[2]) && !close(table[2], initTable[2]) && !close(table[1], table[2]), 'new classes have rows of their own');
  const norm = (a: number[]) => Math.sqrt(a.reduce((t, v) => t + v * v, 0));
  assert.ok([1, 2].every((i) => Math.abs(norm(table[i]) / norm(initTable[0]) - 1) < 0.5), 'new rows are of a fresh row\'s size');
  assert.ok(close(table[3], initTable[2]), 'the null row is carried over');
  assert.equal(m.config.labelMap.init?.dir, first);
  assert.equal(m.config.labelMap.rows[0].initIndex, 1);
  m.dispose();
});

test('samples without cls train the null class; --unconditional ignores labels', async () => {
  const mixed = await images(12, { unlabelled: true });
  const out = await outDir();
  const r = await finetune(opts(out, { source: sourceOf(mixed), maxSteps: 1 }));
  assert.deepEqual(r.classNames, ['dark', 'bright']);
  const unlabelled = mixed.map((s) => ({ ...s, fields: { png: s.fields.png } }));
  const none = await finetune(opts(await outDir(), { source: sourceOf(unlabelled), maxSteps: 1 }));
  assert.deepEqual(none.classNames, []);
  const unc = await outDir();
  const u = await finetune(opts(unc, { unconditional: true, maxSteps: 1 }));
  assert.deepEqual(u.classNames, []);
  const m = await loadDiffusionModel(unc);
  assert.equal(m.config.conditional, false);
  assert.equal(m.denoiser.numClasses, 0);
  m.dispose();
});

test('images of the wrong size or channels name shard and key; --resize converts them', async () => {
  const wrongSize = [...data.slice(0, 5), ...(await images(1, { size: 10, shard: 'odd.tar' })).map((s) => ({ ...s, key: 'big' })), ...data.slice(5)];
  await assert.rejects(
    finetune(opts(await outDir(), { source: sourceOf(wrongSize), shuffleBuffer: 0 })),
    (e: unknown) => e instanceof InputError && e.shard === 'odd.tar' && e.key === 'big' && /10x10 but 4x4/.test(e.message),
  );
  const colour = [...data.slice(0, 5), ...(await images(1, { channels: 3, shard: 'rgb.tar' })).map((s) => ({ ...s, key: 'rgb' })), ...data.slice(5)];
  await assert.rejects(
    finetune(opts(await outDir(), { source: sourceOf(colour), shuffleBuffer: 0 })),
    (e: unknown) => e instanceof InputError && e.shard === 'rgb.tar' && e.key === 'rgb' && /colour \(3 channels\) but the model takes gray/.test(e.message),
  );
  const r = await finetune(opts(await outDir(), { source: sourceOf(colour), shuffleBuffer: 0, resize: 'stretch', maxSteps: 1 }));
  assert.equal(r.steps, 1);
});

test('output directories: a non-empty one without checkpoint needs force; resume needs a diffusion checkpoint', async () => {
  const out = await outDir();
  await finetune(opts(out, { maxSteps: 1 }));
  await assert.rejects(finetune(opts(out, { maxSteps: 1 })), (e: unknown) => e instanceof UsageError && /already holds a training checkpoint/.test(e.message));
  const other = await outDir();
  await finetune(opts(other, { maxSteps: 1 }));
  await rm(join(other, 'checkpoint'), { recursive: true });
  await assert.rejects(finetune(opts(other, { maxSteps: 1 })), (e: unknown) => e instanceof UsageError && /not empty.*--force/.test(e.message));
  assert.equal((await finetune(opts(other, { maxSteps: 1, force: true }))).steps, 1);
  await assert.rejects(finetune(opts(await outDir(), { resume: true })), (e: unknown) => e instanceof UsageError && /holds no checkpoint/.test(e.message));
  // A checkpoint whose loop values are damaged is an InputError naming trainer.json.
  const t = JSON.parse(await readFile(join(out, 'checkpoint', 'trainer.json'), 'utf8'));
  await writeFile(join(out, 'checkpoint', 'trainer.json'), JSON.stringify({ ...t, step: -1 }));
  await assert.rejects(finetune(opts(out, { resume: true })), (e: unknown) => e instanceof InputError && /trainer\.json: step must be a non-negative integer/.test(e.message));
  await writeFile(join(out, 'checkpoint', 'trainer.json'), JSON.stringify({ ...t, kind: 'classifier' }));
  await assert.rejects(finetune(opts(out, { resume: true })), (e: unknown) => e instanceof UsageError && /"classifier" run, not diffusion/.test(e.message));
});

test('a checkpoint swap cut between its renames is put back: hasCheckpoint restores checkpoint.old', async () => {
  const { hasCheckpoint } = await import('../src/training/checkpoint.js');
  const { rename } = await import('node:fs/promises');
  const out = await outDir();
  await finetune(opts(out, { maxSteps: 1 }));
  await rename(join(out, 'checkpoint'), join(out, 'checkpoint.old'));
  assert.equal(hasCheckpoint(out), true);
  assert.deepEqual((await readdir(out)).filter((f) => f.startsWith('checkpoint')), ['checkpoint']);
  assert.equal((await finetune(opts(out, { resume: true, maxSteps: 2 }))).steps, 1);
});

test('synthaug finetune: trains from a tar, prints a JSON summary; bad options exit 2, bad images exit 1', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'synthaug-ft-cli-'));
  dirs.push(dir);
  const tar = join(dir, 'train.tar');
  await writeFile(tar, await tarBytes(data));
  const common = ['--arch-option', 'baseChannels=8', 'groups=4', 'channelMult=1,2', 'numResBlocks=1', '--batch-size', '8', '--micro-batch', '4', '--seed', '1', '--backend', 'wasm'];
  const ok = await runCli(['finetune', tar, '-o', join(dir, 'm'), '--max-steps', '2', '--json', ...common]);
  assert.equal(ok.code, 0, ok.stderr);
  const summary = JSON.parse(ok.stdout.toString());
  assert.equal(summary.steps, 2);
  assert.deepEqual(summary.classNames, ['dark', 'bright']);
  assert.match(ok.stderr, /peak RSS \d+ MiB/);
  assert.match(ok.stderr, /backend wasm → /);
  // The summary names the rung taken: native (the WASM backend with the oneDNN kernels), where built.
  if (nativeMissing === undefined) {
    const native = await runCli(['finetune', tar, '-o', join(dir, 'n'), '--max-steps', '1', ...common.slice(0, -2), '--backend', 'native']);
    assert.equal(native.code, 0, native.stderr);
    assert.match(native.stderr, /trained 1 steps: .*, backend native → /);
    assert.equal(JSON.parse(await readFile(join(dir, 'n', 'config.json'), 'utf8')).provenance.backend, 'native', 'and so does the provenance');
  }
  const usage = await runCli(['finetune', tar, '-o', join(dir, 'u'), '--max-steps', '0', ...common]);
  assert.equal(usage.code, 2, usage.stderr);
  const preset = await runCli(['finetune', tar, '-o', join(dir, 'p'), '--arch-option', 'preset=imagenet', '--max-steps', '1']);
  assert.equal(preset.code, 2, preset.stderr);
  const wrong = await runCli(['finetune', tar, '-o', join(dir, 'w'), '--arch-option', 'preset=fmnist', '--max-steps', '1', '--backend', 'wasm']);
  assert.equal(wrong.code, 1, wrong.stderr);
  assert.match(wrong.stderr, /shard .*train\.tar, sample img\d+: image is 4x4 but 28x28 was declared/);
  assert.equal((await readdir(join(dir, 'w')).catch(() => [])).filter((f) => f !== 'log.jsonl').length, 0);
});

test('a training step on the diffusion task leaks no tensors', async () => {
  const before = tf.memory().numTensors;
  await finetune(opts(await outDir(), { maxSteps: 2 }));
  assert.equal(tf.memory().numTensors, before);
});

// The diffusion model directory: what is saved is what loads (raw and EMA), the digest is the weights
// file's sha256, and a missing, damaged or mismatched directory is a clear InputError.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { InputError } from '../src/errors.js';
import { UNet, defaultUNetConfig } from '../src/models/unet.js';
import { EDM_DEFAULTS } from '../src/diffusion/edm.js';
import { loadDiffusionModel, saveDiffusionModel, type DiffusionInfo } from '../src/diffusion/model.js';

before(async () => {
  await initBackend('wasm');
});

const cfg = { ...defaultUNetConfig, baseChannels: 8, groups: 4, numResBlocks: 1, dropout: 0, imageSize: 4, inChannels: 1, numClasses: 2, channelMult: [1, 2] };
const info: DiffusionInfo = {
  classNames: ['cat', 'dog'],
  conditional: true,
  formulation: { name: 'edm', ...EDM_DEFAULTS },
  labelMap: { init: null, rows: [{ name: 'cat', index: 0, initIndex: null }, { name: 'dog', index: 1, initIndex: null }] },
  emaDecay: 0.999,
  provenance: { test: true },
};

async function saved(): Promise<{ dir: string; net: UNet; ema: Map<string, tf.Tensor> }> {
  const dir = join(await mkdtemp(join(tmpdir(), 'synthaug-dm-')), 'model');
  const net = new UNet(cfg, 4);
  const ema = new Map([...net.stateDict()].map(([k, v]) => [k, tf.add(v, 0.25) as tf.Tensor]));
  await saveDiffusionModel(dir, net, ema, info);
  return { dir, net, ema };
}

test('raw and EMA weights load back exactly; digest is the sha256 of the file loaded', async () => {
  const { dir, net, ema } = await saved();
  for (const which of ['raw', 'ema'] as const) {
    const m = await loadDiffusionModel(dir, { weights: which });
    const file = which === 'raw' ? 'model.safetensors' : 'ema.safetensors';
    assert.equal(m.digest, createHash('sha256').update(await readFile(join(dir, file))).digest('hex'));
    for (const [k, v] of m.net.stateDict()) {
      const want = which === 'raw' ? net.stateDict().get(k)! : ema.get(k)!;
      assert.deepEqual(v.dataSync(), want.dataSync(), `${which} ${k}`);
    }
    assert.deepEqual(m.classNames, ['cat', 'dog']);
    assert.equal(m.denoiser.numClasses, 2);
    assert.deepEqual(m.denoiser.imageShape, [4, 4, 1]);
    assert.equal(m.config.kind, 'diffusion');
    assert.equal(m.config.formulation.sigmaData, 0.5);
    m.dispose();
  }
  // EMA is the default; a refresh in place leaves no temporary file behind.
  assert.equal((await loadDiffusionModel(dir)).config.weights.ema.file, 'ema.safetensors');
  await saveDiffusionModel(dir, net, ema, info);
  assert.deepEqual((await readdir(dir)).sort(), ['config.json', 'ema.safetensors', 'model.safetensors']);
  net.dispose();
});

test('a missing, damaged or mismatched model directory is an InputError naming the file', async () => {
  const { dir, net } = await saved();
  net.dispose();
  await assert.rejects(loadDiffusionModel(join(dir, 'nope')), (e: Error) => e instanceof InputError && /not a model directory/.test(e.message));
  const ema = join(dir, 'ema.safetensors');
  const bytes = await readFile(ema);
  bytes[bytes.length - 1] ^= 1;
  await writeFile(ema, bytes);
  await assert.rejects(loadDiffusionModel(dir), (e: Error) => e instanceof InputError && /ema\.safetensors.*sha256/.test(e.message));
  assert.ok(await loadDiffusionModel(dir, { weights: 'raw' }));

  const configPath = join(dir, 'config.json');
  const config = JSON.parse(await readFile(configPath, 'utf8'));
  await writeFile(configPath, JSON.stringify({ ...config, options: { ...config.options, baseChannels: 16 } }));
  await assert.rejects(loadDiffusionModel(dir, { weights: 'raw' }), (e: Error) => e instanceof InputError && /model\.safetensors.*shape/.test(e.message));
  await writeFile(configPath, JSON.stringify({ ...config, kind: 'classifier' }));
  await assert.rejects(loadDiffusionModel(dir), (e: Error) => e instanceof InputError && /kind is "classifier", expected "diffusion"/.test(e.message));
  await writeFile(configPath, JSON.stringify({ ...config, formulation: { ...config.formulation, sigmaData: 'x' } }));
  await assert.rejects(loadDiffusionModel(dir), (e: Error) => e instanceof InputError && /formulation\.sigmaData/.test(e.message));
  await writeFile(configPath, '{"kind": "diffusion",');
  await assert.rejects(loadDiffusionModel(dir), (e: Error) => e instanceof InputError && /not valid JSON/.test(e.message));
  await rm(join(dir, 'model.safetensors'));
  await writeFile(configPath, JSON.stringify(config));
  await assert.rejects(loadDiffusionModel(dir, { weights: 'raw' }), (e: Error) => e instanceof InputError && /cannot read weights file/.test(e.message));
});

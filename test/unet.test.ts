// The diffusion U-Net against its PyTorch twin (bench/reference/unet_twin.py, written independently):
// bench/reference/make_unet_fixtures.py saves a tiny twin's seeded weights (safetensors, PyTorch layout),
// an input batch and its ε prediction, the parameter counts of the default nets and reference ᾱ_t values.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { UNet, defaultUNetConfig, timestepEmbedding, type UNetConfig } from '../src/models/unet.js';
import { readSafetensors } from '../src/nn/safetensors.js';
import { importTorchState } from '../src/models/torch.js';
import { makeSchedule } from '../src/diffusion/schedule.js';
import { relErr } from './helpers/compare.js';

const fixturePath = (name: string) => fileURLToPath(new URL(`../../fixtures/unet/${name}`, import.meta.url));
const fixture = JSON.parse(readFileSync(fixturePath('tiny.json'), 'utf8')) as {
  config: Record<string, number | number[]>;
  x: number[];
  t: number[];
  y: number[];
  eps: number[];
  numParameters: Record<string, number>;
  schedules: { at: number[]; linear: number[]; cosine: number[] };
};

before(async () => {
  await tf.setBackend('cpu');
});

const tinyConfig: UNetConfig = {
  imageSize: fixture.config.image_size as number,
  inChannels: fixture.config.in_channels as number,
  numClasses: fixture.config.num_classes as number,
  baseChannels: fixture.config.base_channels as number,
  channelMult: fixture.config.channel_mult as number[],
  numResBlocks: fixture.config.num_res_blocks as number,
  attentionHeads: fixture.config.attention_heads as number,
  dropout: fixture.config.dropout as number,
  groups: fixture.config.groups as number,
};


test('U-Net parameter counts equal the PyTorch twin (default config, 28x28x1 and 32x32x3, 10 classes)', () => {
  for (const [key, imageSize, inChannels] of [['default_28x28x1_10', 28, 1], ['default_32x32x3_10', 32, 3]] as const) {
    const net = new UNet({ ...defaultUNetConfig, imageSize, inChannels, numClasses: 10 }, 0);
    assert.equal(net.numParameters(), fixture.numParameters[key], key);
    net.dispose();
  }
});

test('U-Net ε prediction matches PyTorch on a tiny config with shared weights (rel. 1e-4)', async () => {
  const net = new UNet(tinyConfig, 0);
  try {
    assert.equal(net.numParameters(), fixture.numParameters.tiny);
    const { tensors } = await readSafetensors(fixturePath('tiny.safetensors'));
    importTorchState(net, tensors, 'fixtures/unet/tiny.safetensors');
    const s = tinyConfig.imageSize;
    const x = tf.tensor4d(fixture.x, [fixture.t.length, s, s, tinyConfig.inChannels]);
    const t = tf.tensor1d(fixture.t);
    const y = tf.tensor1d(fixture.y, 'int32');
    const before = tf.memory().numTensors;
    const eps = net.predictNoise(x, t, y);
    assert.deepEqual(eps.shape, x.shape);
    const err = relErr(eps.dataSync(), fixture.eps);
    assert.ok(err <= 1e-4, `ε differs from PyTorch by ${err}`);
    eps.dispose();
    assert.equal(tf.memory().numTensors, before, 'forward leaked tensors');
    tf.dispose([x, t, y]);
  } finally {
    net.dispose();
  }
});

test('U-Net at the default layout (16 base channels, to keep the cpu backend quick) keeps the shape of 28x28x1 and 32x32x3', () => {
  for (const [imageSize, inChannels] of [[28, 1], [32, 3]]) {
    const net = new UNet({ ...defaultUNetConfig, baseChannels: 16, groups: 8, imageSize, inChannels, numClasses: 10 }, 1);
    const x = tf.randomNormal([2, imageSize, imageSize, inChannels]);
    const eps = net.predictNoise(x, tf.tensor1d([3, 700]), tf.tensor1d([4, 10], 'int32'));
    assert.deepEqual(eps.shape, [2, imageSize, imageSize, inChannels]);
    tf.dispose([x, eps]);
    net.dispose();
  }
});

test('U-Net rejects sizes that do not halve, and inputs or conditioning of the wrong shape', () => {
  assert.throws(() => new UNet({ ...defaultUNetConfig, imageSize: 30, inChannels: 1, numClasses: 10 }, 0), /does not halve/);
  assert.throws(() => new UNet({ ...defaultUNetConfig, baseChannels: 48, imageSize: 28, inChannels: 1, numClasses: 10 }, 0), /groups/);
  const net = new UNet(tinyConfig, 0);
  const x = tf.zeros([2, 12, 12, 3]);
  assert.throws(() => net.predictNoise(tf.zeros([2, 8, 8, 3]), tf.zeros([2]), tf.zeros([2], 'int32')), /built for \[B, 12, 12, 3\]/);
  assert.throws(() => net.predictNoise(x, tf.zeros([3]), tf.zeros([2], 'int32')), /one entry per image/);
  net.dispose();
});

test('timestep embedding is cat(cos, sin) of t·10000^(−i/half)', () => {
  const dim = 6;
  const ts = [0, 1, 250.5];
  const got = timestepEmbedding(tf.tensor1d(ts), dim).arraySync() as number[][];
  for (const [r, t] of ts.entries()) {
    for (let i = 0; i < 3; i++) {
      const f = Math.pow(10000, -i / 3);
      assert.ok(Math.abs(got[r][i] - Math.cos(t * f)) < 1e-4 && Math.abs(got[r][3 + i] - Math.sin(t * f)) < 1e-4, `t=${t} i=${i}`);
    }
  }
});

test('noise schedules: ᾱ_t of the linear and cosine schedules equal numpy references', () => {
  for (const name of ['linear', 'cosine'] as const) {
    const s = makeSchedule(name, 1000);
    fixture.schedules.at.forEach((t, i) => {
      const expected = fixture.schedules[name][i];
      assert.ok(Math.abs(s.alphasCumprod[t] - expected) <= 1e-12 * Math.max(1, expected) + 1e-15, `${name} ᾱ_${t}: ${s.alphasCumprod[t]} vs ${expected}`);
    });
  }
});

// A tiny class-conditional diffusion model directory for end-to-end tests of `sample` and what reads its
// output: a randomly initialised U-Net on 8×8 gray images, with random weights everywhere (a fresh U-Net
// starts with zeroed residual branches and output layer, which would make every sample alike).
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/backend/index.js';
import { UNet, defaultUNetConfig } from '../../src/models/unet.js';
import { EDM_DEFAULTS } from '../../src/diffusion/edm.js';
import { saveDiffusionModel } from '../../src/diffusion/model.js';
import { Rng } from '../../src/util/rng.js';

export async function writeTinyDiffusionModel(dir: string, classNames: string[], seed = 1): Promise<void> {
  await initBackend('cpu');
  const cfg = { ...defaultUNetConfig, baseChannels: 8, groups: 4, numResBlocks: 1, dropout: 0, imageSize: 8, inChannels: 1, numClasses: classNames.length, channelMult: [1, 2] };
  const net = new UNet(cfg, seed);
  const rng = new Rng(seed + 1);
  const ema = new Map([...net.stateDict()].map(([k, v]) => [k, tf.tensor(Float32Array.from({ length: v.size }, () => rng.normal() * 0.3), v.shape)]));
  await saveDiffusionModel(dir, net, ema, {
    classNames,
    conditional: true,
    formulation: { name: 'edm', ...EDM_DEFAULTS },
    labelMap: { init: null, rows: classNames.map((name, index) => ({ name, index, initIndex: null })) },
    emaDecay: 0.999,
  });
  net.dispose();
  for (const t of ema.values()) t.dispose();
}

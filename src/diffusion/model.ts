// A diffusion model directory, written and read through the same mechanism as a classifier directory
// (src/models/store.ts: atomic writes, config.json checked field by field, weights checked by sha256):
//
//   config.json          what to build and how to use it (below)
//   model.safetensors    the raw weights, PyTorch layout and names (src/models/torch.ts)
//   ema.safetensors      the exponential moving average of the weights (what `sample` uses by default)
//   checkpoint/          the training state `finetune --resume` continues from (src/training/checkpoint.ts)
//
// config.json, format 1:
//   kind           "diffusion"
//   format         1
//   arch           "unet" (src/models/unet.ts)
//   options        the U-Net's options: baseChannels, channelMult, numResBlocks, attentionHeads, dropout, groups
//   imageShape     [H, W, C]; images are mapped from [0, 255] to [−1, 1]
//   numClasses     real classes N (0 for a model trained without labels); label N is the null class
//   classNames     one name per class index (length N)
//   conditional    false when trained with labels ignored (--unconditional): only the null class is trained
//   formulation    {name: "edm", sigmaData, pMean, pStd, sigmaMin, sigmaMax, pUncond} (src/diffusion/edm.ts)
//   labelMap       {init: {dir, digest} | null, rows: [{name, index, initIndex}]}: where each class row of the
//                  class table came from (initIndex null: the null row of --init, or a fresh row)
//   weights        {raw: {file, sha256}, ema: {file, sha256, decay}}, layout "pytorch"
//   provenance     free-form: the training command, data, seed, steps... (written as given)
import type * as tf from '@tensorflow/tfjs-core';
import { join } from 'node:path';
import { InputError } from '../errors.js';
import { decodeSafetensors, encodeSafetensors } from '../nn/safetensors.js';
import { CONFIG_FILE, WEIGHTS_FILE, isFileName, readModelConfig, readWeightsFile, sha256Hex, writeModelFiles } from '../models/store.js';
import { exportTorchTensors, importTorchState } from '../models/torch.js';
import { UNet, type UNetConfig } from '../models/unet.js';
import type { Denoiser } from './denoiser.js';
import { edmDenoiser, type EdmConstants } from './edm.js';

export const DIFFUSION_FORMAT = 1;
export const EMA_FILE = 'ema.safetensors';

export type UNetOptions = Omit<UNetConfig, 'imageSize' | 'inChannels' | 'numClasses'>;

export interface Formulation extends EdmConstants {
  name: 'edm';
}

export interface LabelMapRow {
  name: string;
  index: number;
  /** The class row of the --init model this row was copied from; null: started from its null row (or fresh). */
  initIndex: number | null;
}

export interface LabelMap {
  init: { dir: string; digest: string } | null;
  rows: LabelMapRow[];
}

export interface DiffusionDirConfig {
  kind: 'diffusion';
  format: number;
  arch: 'unet';
  options: UNetOptions;
  imageShape: [number, number, number];
  numClasses: number;
  classNames: string[];
  conditional: boolean;
  formulation: Formulation;
  labelMap: LabelMap;
  weights: { raw: { file: string; sha256: string }; ema: { file: string; sha256: string; decay: number }; layout: 'pytorch' };
  provenance: Record<string, unknown>;
}

/** What a diffusion directory records beside the network's own configuration. */
export interface DiffusionInfo {
  classNames: string[];
  conditional: boolean;
  formulation: Formulation;
  labelMap: LabelMap;
  emaDecay: number;
  provenance?: Record<string, unknown>;
}

/** The U-Net's options without the shape and class count (those live at the top of config.json). */
export function unetOptions(cfg: UNetConfig): UNetOptions {
  const { imageSize: _s, inChannels: _c, numClasses: _n, ...options } = cfg;
  return { ...options, channelMult: [...options.channelMult] };
}

/**
 * The files of a diffusion directory, config.json last: raw weights from `net`, EMA weights from `ema`
 * (named as net's state, tfjs layout). Write them with writeModelFiles.
 */
export function diffusionFiles(net: UNet, ema: Iterable<[string, tf.Tensor]>, info: DiffusionInfo): Array<[string, Buffer | string]> {
  const cfg = net.config;
  if (info.classNames.length !== cfg.numClasses) throw new Error(`${info.classNames.length} class names for a U-Net with ${cfg.numClasses} classes`);
  const meta = { format: 'pt', arch: 'unet', producer: 'synthaug' };
  const raw = encodeSafetensors(exportTorchTensors(net.stateDict()), meta);
  const emaBuf = encodeSafetensors(exportTorchTensors(ema), { ...meta, ema_decay: String(info.emaDecay) });
  const config: DiffusionDirConfig = {
    kind: 'diffusion',
    format: DIFFUSION_FORMAT,
    arch: 'unet',
    options: unetOptions(cfg),
    imageShape: [cfg.imageSize, cfg.imageSize, cfg.inChannels],
    numClasses: cfg.numClasses,
    classNames: info.classNames,
    conditional: info.conditional,
    formulation: info.formulation,
    labelMap: info.labelMap,
    weights: { raw: { file: WEIGHTS_FILE, sha256: sha256Hex(raw) }, ema: { file: EMA_FILE, sha256: sha256Hex(emaBuf), decay: info.emaDecay }, layout: 'pytorch' },
    provenance: info.provenance ?? {},
  };
  return [
    [WEIGHTS_FILE, raw],
    [EMA_FILE, emaBuf],
    [CONFIG_FILE, `${JSON.stringify(config, null, 2)}\n`],
  ];
}

export async function saveDiffusionModel(dir: string, net: UNet, ema: Iterable<[string, tf.Tensor]>, info: DiffusionInfo): Promise<void> {
  await writeModelFiles(dir, diffusionFiles(net, ema, info));
}

const isPosInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0;
const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Reads and checks a diffusion directory's config.json; every problem is an InputError naming the path. */
export async function readDiffusionConfig(dir: string): Promise<DiffusionDirConfig> {
  const { raw, bad } = await readModelConfig(dir, 'diffusion', DIFFUSION_FORMAT);
  if (raw.arch !== 'unet') bad(`arch ${JSON.stringify(raw.arch)} is not known (this synthaug builds "unet")`);
  const shape = raw.imageShape;
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every(isPosInt) || shape[0] !== shape[1] || ![1, 3].includes(shape[2])) {
    bad('imageShape must be [S, S, C] with C 1 or 3');
  }
  if (!Number.isInteger(raw.numClasses) || (raw.numClasses as number) < 0) bad('numClasses must be a non-negative integer');
  const n = raw.numClasses as number;
  if (!Array.isArray(raw.classNames) || raw.classNames.length !== n || !raw.classNames.every((s) => typeof s === 'string')) bad(`classNames must list ${n} names`);
  if (typeof raw.conditional !== 'boolean') bad('conditional must be true or false');
  const o = raw.options as Record<string, unknown> | undefined;
  if (!o || typeof o !== 'object' || !isPosInt(o.baseChannels) || !isPosInt(o.numResBlocks) || !isPosInt(o.attentionHeads) || !isPosInt(o.groups)) {
    bad('options must give positive integers baseChannels, numResBlocks, attentionHeads and groups');
  }
  if (!Array.isArray(o!.channelMult) || !o!.channelMult.every(isPosInt) || !isFiniteNumber(o!.dropout)) bad('options must give channelMult (positive integers) and dropout');
  const f = raw.formulation as Record<string, unknown> | undefined;
  if (!f || f.name !== 'edm') bad(`formulation ${JSON.stringify(f?.name)} is not known (this synthaug reads "edm")`);
  for (const k of ['sigmaData', 'pMean', 'pStd', 'sigmaMin', 'sigmaMax', 'pUncond'] as const) if (!isFiniteNumber(f![k])) bad(`formulation.${k} must be a number`);
  if (!((f!.sigmaMin as number) > 0 && (f!.sigmaMax as number) > (f!.sigmaMin as number) && (f!.sigmaData as number) > 0)) bad('formulation needs 0 < sigmaMin < sigmaMax and sigmaData > 0');
  const w = raw.weights as DiffusionDirConfig['weights'] | undefined;
  if (!w || !w.raw || !w.ema || !isFileName(w.raw.file) || !isFileName(w.ema.file) || typeof w.raw.sha256 !== 'string' || typeof w.ema.sha256 !== 'string') {
    bad('weights must be {raw: {file, sha256}, ema: {file, sha256}} with plain file names');
  }
  const labelMap = (raw.labelMap ?? { init: null, rows: [] }) as LabelMap;
  if (!Array.isArray(labelMap.rows)) bad('labelMap.rows must be a list');
  return { ...(raw as unknown as DiffusionDirConfig), labelMap, provenance: (raw.provenance ?? {}) as Record<string, unknown> };
}

export interface LoadedDiffusionModel {
  /** The preconditioned network, eval mode: what the samplers take. */
  denoiser: Denoiser;
  /** The U-Net holding the chosen weights (dispose it when done). */
  net: UNet;
  config: DiffusionDirConfig;
  classNames: string[];
  /** sha256 (hex) of the weights file loaded. */
  digest: string;
  dispose(): void;
}

/** The U-Net configuration a diffusion config.json describes. */
export function unetConfigOf(config: DiffusionDirConfig): UNetConfig {
  return { ...config.options, imageSize: config.imageShape[0], inChannels: config.imageShape[2], numClasses: config.numClasses };
}

/** Loads the raw or EMA weights of directory `dir` (described by `config`) into `net`; returns the file's sha256. */
export async function loadUNetWeights(net: UNet, dir: string, config: DiffusionDirConfig, which: 'ema' | 'raw'): Promise<string> {
  const { buf, path, sha256 } = await readWeightsFile(dir, config.weights[which]);
  importTorchState(net, decodeSafetensors(buf, path).tensors, path);
  return sha256;
}

/**
 * Loads a diffusion directory: the EMA weights by default, the raw ones with {weights: 'raw'}.
 * A missing or damaged file, a config that does not describe the weights, or weights that do not fit
 * the architecture is an InputError (exit 1) naming the file.
 */
export async function loadDiffusionModel(dir: string, opts: { weights?: 'ema' | 'raw' } = {}): Promise<LoadedDiffusionModel> {
  const config = await readDiffusionConfig(dir);
  let net: UNet;
  try {
    net = new UNet(unetConfigOf(config), 0);
  } catch (err) {
    throw new InputError(`${join(dir, CONFIG_FILE)}: ${(err as Error).message}`);
  }
  let sha256: string;
  try {
    sha256 = await loadUNetWeights(net, dir, config, opts.weights ?? 'ema');
  } catch (err) {
    net.dispose();
    throw err;
  }
  const denoiser = edmDenoiser(net, { numClasses: config.numClasses, imageShape: config.imageShape, constants: config.formulation });
  return { denoiser, net, config, classNames: [...config.classNames], digest: sha256, dispose: () => net.dispose() };
}

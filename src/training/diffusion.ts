// Training a class-conditional diffusion model (`finetune`): the diffusion task of the one training loop
// (./loop.ts). The model is the U-Net of src/models/unet.ts under EDM's preconditioning and loss
// (src/diffusion/edm.ts); the output is a diffusion model directory (src/diffusion/model.ts).
//
// Labels: class k of the data trains row k of the class table; a sample without `cls` trains the null row
// (index N), so unlabelled data pretrains the model, and --unconditional sends every sample there. Label
// dropout (EDM constants' pUncond, 0.1) trains the null row on labelled data too, for classifier-free
// guidance. From --init DIR the class table is rebuilt by name: a class the init model knows keeps its
// row, a new class gets a fresh random row (as from scratch), and the null row is carried over. A copy of
// the null row would give every new class the same embedding, and AdamW moves a row of norm 11 by only about
// 0.1 in 200 steps: measured, such a 200-step fine-tune from unlabelled pretraining follows no class at any
// guidance weight (10-13% agreement, chance), where fresh rows give 44% at w = 1 and 66% at w = 3
// (docs/experiment.md).
import * as tf from '@tensorflow/tfjs-core';
import { mkdir } from 'node:fs/promises';
import { InputError, UsageError } from '../errors.js';
import { warn } from '../log.js';
import { BadInputs } from '../shards/bad.js';
import type { Sample } from '../shards/sample.js';
import { Rng, subSeed } from '../util/rng.js';
import { normal } from '../nn/init.js';
import type { ResizePolicy } from '../images/codec.js';
import { toSignedUnit } from '../images/tensor.js';
import type { OptionValue } from '../models/classifier.js';
import { UNet, defaultUNetConfig, type UNetConfig } from '../models/unet.js';
import { EDM_DEFAULTS, drawEdmNoise, edmLoss, type EdmDraw } from '../diffusion/edm.js';
import { diffusionFiles, loadDiffusionModel, loadUNetWeights, readDiffusionConfig, unetConfigOf, type Formulation, type LabelMap } from '../diffusion/model.js';
import { labelled, probeFirstImage, scan, type Example, type ImageSpec, type Labeler, type SampleSource } from './data.js';
import { LabelSet } from './labels.js';
import { checkOutputDir, loadCheckpoint, type LoopSettings } from './checkpoint.js';
import { newLoopState, runControls, runLoop, type LoopOptions, type LoopResult, type RunControls, type TrainingTask } from './loop.js';
import type { MicroLoss } from './step.js';

/**
 * U-Net presets sized for a CPU. fmnist: 28×28×1, 32 base channels, multipliers 1,2,2 (28 → 14 → 7, the
 * self-attention block at 7×7), 2 residual blocks a level, 8 groups: 2.2M parameters with 10 classes.
 * cifar: 32×32×3, 64 base channels, 1,2,2 (32 → 16 → 8): 6.1M parameters.
 */
export const UNET_PRESETS: Record<string, Omit<UNetConfig, 'numClasses'>> = {
  fmnist: { imageSize: 28, inChannels: 1, baseChannels: 32, channelMult: [1, 2, 2], numResBlocks: 2, attentionHeads: 4, dropout: 0.1, groups: 8 },
  cifar: { imageSize: 32, inChannels: 3, baseChannels: 64, channelMult: [1, 2, 2], numResBlocks: 2, attentionHeads: 4, dropout: 0.1, groups: 32 },
};

/** The U-Net options --arch-option may set (beside preset). */
const UNET_OPTION_KEYS = ['imageSize', 'inChannels', 'baseChannels', 'channelMult', 'numResBlocks', 'attentionHeads', 'dropout', 'groups'] as const;

/**
 * The U-Net configuration from --arch-option values: a preset, then single options over it
 * (channelMult as "1,2,2"); without a preset, imageSize and inChannels default to the first image's.
 */
export function unetConfigFrom(options: Record<string, OptionValue>, probed: () => Promise<[number, number, 1 | 3]>): Promise<Omit<UNetConfig, 'numClasses'>> {
  return (async () => {
    const { preset, ...rest } = options;
    if (preset !== undefined && !(typeof preset === 'string' && preset in UNET_PRESETS)) {
      throw new UsageError(`Expected one of ${Object.keys(UNET_PRESETS).join('|')} for --arch-option preset but received ${JSON.stringify(preset)}`);
    }
    const base: Partial<UNetConfig> = preset === undefined ? { ...defaultUNetConfig } : { ...UNET_PRESETS[preset as string] };
    for (const [key, value] of Object.entries(rest)) {
      if (!(UNET_OPTION_KEYS as readonly string[]).includes(key)) {
        throw new UsageError(`unknown --arch-option ${key} for unet (known: preset, ${UNET_OPTION_KEYS.join(', ')})`);
      }
      if (key === 'channelMult') {
        const mult = String(value).split(',').map(Number);
        if (mult.length === 0 || !mult.every((m) => Number.isInteger(m) && m > 0)) throw new UsageError(`Expected positive integers like 1,2,2 for --arch-option channelMult but received ${JSON.stringify(value)}`);
        base.channelMult = mult;
      } else {
        const n = Number(value);
        const ok = key === 'dropout' ? n >= 0 && n < 1 : Number.isInteger(n) && n > 0;
        if (!ok) throw new UsageError(`Expected ${key === 'dropout' ? 'a number in [0, 1)' : 'a positive integer'} for --arch-option ${key} but received ${JSON.stringify(value)}`);
        (base as Record<string, unknown>)[key] = n;
      }
    }
    if (base.imageSize === undefined || base.inChannels === undefined) {
      const [h, w, c] = await probed();
      if (h !== w) throw new UsageError(`the U-Net takes square images, and the first training image is ${w}x${h}: give --arch-option imageSize=N with --resize`);
      base.imageSize ??= h;
      base.inChannels ??= c;
    }
    if (base.inChannels !== 1 && base.inChannels !== 3) throw new UsageError(`Expected 1 or 3 for --arch-option inChannels but received ${base.inChannels}`);
    return base as Omit<UNetConfig, 'numClasses'>;
  })();
}

export interface FinetuneOptions extends RunControls {
  source: SampleSource;
  outDir: string;
  resume?: boolean;
  force?: boolean;
  /** A diffusion model directory to start from (its EMA weights). */
  init?: string;
  /** --arch-option values (preset=fmnist|cifar and U-Net options). */
  archOptions: Record<string, OptionValue>;
  /** Train only the null class, whatever the labels say. */
  unconditional?: boolean;
  /** Train this many steps; or `epochs` passes over the data (counted first); one of them. */
  maxSteps?: number;
  epochs?: number;
  batchSize: number;
  /** Images per forward/backward pass (gradients summed over the micro-batches of a step). */
  microBatch?: number;
  lr: number;
  warmup?: number;
  weightDecay?: number;
  clip?: number;
  /** EMA decay (with warmup). */
  ema: number;
  seed: number;
  shuffleBuffer?: number;
  resize?: ResizePolicy;
  skipBad?: boolean;
  /** Labels must lie below this (--max-classes; default sampleLabel's). */
  maxClasses?: number;
  /** Images declaring more pixels are bad samples (--max-pixels; default the codec's). */
  maxPixels?: number;
  provenance?: Record<string, unknown>;
}

export interface FinetuneResult extends LoopResult {
  classNames: string[];
  labelMap: LabelMap;
  parameters: number;
}

/** Samples whose labels are read to establish the classes when training by steps (no full scan). */
const LABEL_PEEK = 10_000;

/** The diffusion task's part of trainer.json. */
interface DiffusionState extends Record<string, unknown> {
  unet: UNetConfig;
  classNames: string[];
  conditional: boolean;
  formulation: Formulation;
  labelMap: LabelMap;
  resize: ResizePolicy;
  provenance: Record<string, unknown>;
}

/** Labels for diffusion training: the class of a labelled sample, −1 (the null class) for one without cls. */
class DiffusionLabels implements Labeler {
  constructor(
    readonly set: LabelSet,
    private readonly conditional: boolean,
  ) {}
  observe(sample: Sample): number {
    if (!this.conditional || sample.fields.cls === undefined) return -1;
    return this.set.observe(sample);
  }
}

interface DiffusionBatch {
  x0: Float32Array; // [B, H, W, C] in [−1, 1]
  draw: EdmDraw;
  size: number;
  dropoutSeed: number;
}

class DiffusionTask implements TrainingTask<DiffusionBatch> {
  readonly kind = 'diffusion' as const;
  private readonly shape: [number, number, number];

  constructor(
    readonly net: UNet,
    readonly t: DiffusionState,
    readonly labels: DiffusionLabels,
    private readonly maxPixels?: number,
  ) {
    this.shape = [t.unet.imageSize, t.unet.imageSize, t.unet.inChannels];
  }

  spec(): ImageSpec {
    const [height, width, channels] = this.shape;
    return { height, width, channels: channels as 1 | 3, resize: this.t.resize, strictChannels: true, maxPixels: this.maxPixels };
  }

  parameters(): Array<[string, tf.Variable]> {
    return this.net.namedParameters();
  }

  state(): DiffusionState {
    return this.t;
  }

  makeBatch(items: Example[], rng: Rng): DiffusionBatch {
    const n = this.t.unet.numClasses;
    const px = this.shape[0] * this.shape[1] * this.shape[2];
    const pixels = new Uint8Array(items.length * px);
    items.forEach((e, i) => pixels.set(e.image, i * px));
    const labels = items.map((e) => (e.label < 0 ? n : e.label));
    const draw = drawEdmNoise([items.length, ...this.shape], labels, { numClasses: n, constants: this.t.formulation }, rng);
    return { x0: toSignedUnit(pixels), draw, size: items.length, dropoutSeed: rng.nextU32() };
  }

  batchSize(b: DiffusionBatch): number {
    return b.size;
  }

  loss(b: DiffusionBatch, start: number, end: number): MicroLoss {
    const px = this.shape[0] * this.shape[1] * this.shape[2];
    const x0 = tf.tensor4d(b.x0.subarray(start * px, end * px), [end - start, ...this.shape]);
    const draw: EdmDraw = { sigma: b.draw.sigma.subarray(start, end), noise: b.draw.noise.subarray(start * px, end * px), y: b.draw.y.subarray(start, end) };
    return { loss: edmLoss(this.net, x0, draw, this.t.formulation, true, (b.dropoutSeed + start) >>> 0) };
  }

  modelFiles(ema?: Map<string, tf.Tensor>): Array<[string, Buffer | string]> {
    return diffusionFiles(this.net, ema ?? this.net.stateDict(), {
      classNames: this.t.classNames,
      conditional: this.t.conditional,
      formulation: this.t.formulation,
      labelMap: this.t.labelMap,
      emaDecay: this.emaDecay,
      provenance: this.t.provenance,
    });
  }

  emaDecay = 0;
}

/** Display names of a class list: the name, or the index for an unnamed class. */
const displayNames = (names: string[]) => names.map((n, i) => n || String(i));

/**
 * The class table of a model for `classNames`, from an init model's: a class whose display name the
 * init model knows keeps its row, a new one gets a fresh row drawn as a U-Net draws its table (normal, std 1)
 * from its own seeded stream (not the net's: a run with the init model's seed would redraw the init model's
 * first rows, its null row among them), and the init model's null row is carried over. Sets `net`'s
 * class_embed and returns the map.
 */
function rebuildClassTable(net: UNet, init: UNet, initNames: string[], classNames: string[], initRef: { dir: string; digest: string },
  seed: number): LabelMap {
  const initIndex = new Map(displayNames(initNames).map((n, i) => [n, i]));
  const rows = displayNames(classNames).map((name, index) => ({ name, index, initIndex: initIndex.get(name) ?? null }));
  const table = init.stateDict().get('class_embed') as tf.Variable; // [N_init + 1, E]
  const target = net.stateDict().get('class_embed') as tf.Variable; // [N + 1, E]
  // Rows of [init table; fresh rows]: an init row by its index, class k's fresh row after the init table.
  const after = table.shape[0];
  const pick = [...rows.map((r) => r.initIndex ?? after + r.index), initNames.length];
  tf.tidy(() => {
    const fresh = normal(target.shape, 1, new Rng(subSeed(seed, 'class-rows', 0)));
    target.assign(tf.gather(tf.concat([table, fresh], 0), tf.tensor1d(pick, 'int32')));
  });
  return { init: initRef, rows };
}

function settingsOf(o: FinetuneOptions, totalSteps: number): LoopSettings {
  const microBatch = Math.min(o.batchSize, o.microBatch ?? 16);
  return {
    seed: o.seed,
    batchSize: o.batchSize,
    microBatch,
    shuffleBuffer: o.shuffleBuffer ?? 10_000,
    epochs: o.epochs,
    totalSteps,
    lr: o.lr,
    warmupSteps: Math.min(o.warmup ?? 200, Math.ceil(totalSteps / 10)),
    lrDecay: 'constant',
    optimizer: { optimizer: 'adamw', momentum: 0, nesterov: false, weightDecay: o.weightDecay ?? 0 },
    clip: o.clip ?? 1,
    ema: { decay: o.ema, warmup: true },
  };
}

/** Checks the diffusion state read back from a checkpoint against its model files. */
function checkDiffusionState(t: Record<string, unknown>, configNames: string[], where: string): DiffusionState {
  const bad = (what: string): never => {
    throw new InputError(`checkpoint ${where}: ${what}`);
  };
  const u = t.unet as Record<string, unknown> | undefined;
  if (!u || typeof u !== 'object' || !Number.isInteger(u.imageSize) || !Number.isInteger(u.numClasses)) bad('task.unet is missing or incomplete');
  if (!Array.isArray(t.classNames) || JSON.stringify(t.classNames) !== JSON.stringify(configNames)) bad('task.classNames disagree with the checkpoint config.json');
  if (typeof t.conditional !== 'boolean') bad('task.conditional must be true or false');
  if (!['none', 'stretch', 'center-crop', 'pad'].includes(t.resize as string)) bad('task.resize is not a resize policy');
  return t as DiffusionState;
}

/** JSON with object keys sorted: two descriptions of one U-Net compare equal whatever order built them. */
function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x !== null && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x,
  );
}

export async function finetune(o: FinetuneOptions): Promise<FinetuneResult> {
  await checkOutputDir(o.outDir, 'diffusion', { resume: o.resume, force: o.force });
  await mkdir(o.outDir, { recursive: true });
  const bad = new BadInputs({ skipBad: o.skipBad }, 'sample');
  const quiet = new BadInputs({ skipBad: o.skipBad, onBad: () => undefined }, 'sample');
  if (o.resume) {
    const ck = await loadCheckpoint(o.outDir, 'diffusion');
    const config = await readDiffusionConfig(ck.dir);
    const t = checkDiffusionState(ck.state.task, config.classNames, `${ck.dir}/trainer.json`);
    if (canonicalJson(unetConfigOf(config)) !== canonicalJson(t.unet)) {
      throw new InputError(`checkpoint ${ck.dir}: config.json and trainer.json describe different U-Nets`);
    }
    // Built with the run's seed, as the straight run was: the dropout layers' own seeds come from it.
    const net = new UNet(t.unet, ck.state.settings.seed);
    try {
      await loadUNetWeights(net, ck.dir, config, 'raw');
      const labels = new DiffusionLabels(LabelSet.fromNames(t.classNames, `the checkpoint in ${o.outDir}`, o.maxClasses), t.conditional);
      const task = new DiffusionTask(net, t, labels, o.maxPixels);
      task.emaDecay = ck.state.settings.ema?.decay ?? 0;
      const r = await runLoop(task, ck.state, { ...loopOptions(o, task, bad), resume: ck });
      return { ...r, classNames: t.classNames, labelMap: t.labelMap, parameters: net.numParameters() };
    } finally {
      net.dispose();
    }
  }

  const conditional = !o.unconditional;
  const set = new LabelSet('the training data', o.maxClasses);
  const byEpochs = o.maxSteps === undefined;
  let passSize: number | undefined;
  const labels = new DiffusionLabels(set, conditional);
  if (byEpochs) passSize = await scan(o.source, labels, quiet);
  else {
    let n = 0;
    for await (const _ of labelled(o.source(), labels, quiet)) if (++n >= LABEL_PEEK) break;
  }
  if (conditional) set.fix(set.numClasses);
  else set.fix(0);
  const classNames = set.classNames();
  const totalSteps = byEpochs ? (o.epochs ?? 1) * Math.ceil((passSize as number) / o.batchSize) : (o.maxSteps as number);
  if (totalSteps === 0) throw new InputError('the training data holds no usable samples');

  let net: UNet;
  let labelMap: LabelMap;
  let formulation: Formulation = { name: 'edm', ...EDM_DEFAULTS };
  if (o.init !== undefined) {
    const init = await loadDiffusionModel(o.init, { weights: 'ema' });
    try {
      if (Object.keys(o.archOptions).length > 0) warn(`--init ${o.init}: the architecture comes from the init model; ignoring --arch-option`);
      net = new UNet({ ...init.net.config, numClasses: classNames.length }, o.seed);
      // Everything but the class table as it is; the table row by row below.
      net.loadStateDict(new Map([...init.net.stateDict()].filter(([k]) => k !== 'class_embed')), { strict: false });
      labelMap = rebuildClassTable(net, init.net, init.classNames, classNames, { dir: o.init, digest: init.digest }, o.seed);
      formulation = init.config.formulation;
    } finally {
      init.dispose();
    }
    warn(`class table from --init ${o.init}:`);
    for (const r of labelMap.rows) warn(`  ${r.index} ${r.name} ← ${r.initIndex === null ? 'new row (random, as from scratch)' : `${r.initIndex} ${r.name}`}`);
    warn(`  ${classNames.length} (null) ← null row`);
  } else {
    const cfg = await unetConfigFrom(o.archOptions, () => probeFirstImage(o.source, o.maxPixels));
    try {
      net = new UNet({ ...cfg, numClasses: classNames.length }, o.seed);
    } catch (err) {
      throw new UsageError(`--arch-option: ${(err as Error).message}`);
    }
    labelMap = { init: null, rows: displayNames(classNames).map((name, index) => ({ name, index, initIndex: null })) };
  }
  const t: DiffusionState = { unet: net.config, classNames, conditional, formulation, labelMap, resize: o.resize ?? 'none', provenance: o.provenance ?? {} };
  const task = new DiffusionTask(net, t, labels, o.maxPixels);
  task.emaDecay = o.ema;
  try {
    const r = await runLoop(task, newLoopState('diffusion', settingsOf(o, totalSteps), t, passSize), loopOptions(o, task, bad));
    return { ...r, classNames, labelMap, parameters: net.numParameters() };
  } finally {
    net.dispose();
  }
}

function loopOptions(o: FinetuneOptions, task: DiffusionTask, bad: BadInputs): LoopOptions {
  return { outDir: o.outDir, source: o.source, spec: task.spec(), labels: task.labels, bad, ...runControls(o) };
}

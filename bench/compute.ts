// Side-by-side compute benchmark: the same network and batch in synthaug on WASM, in synthaug with the
// oneDNN kernels (--backend native, where the addon is built) and in PyTorch (bench/reference/torch_bench.py
// on Debian's /usr/bin/python3, threads = cores), printing images/s of each, the ratio of the fastest synthaug
// column to PyTorch, and the CPU's vector instruction set (the figures depend on it: AVX2 vs AVX-512).
//   resnet20-train   ResNet-20 (option-A shortcuts), 32x32x3, batch 128: forward, cross-entropy,
//                    backward, SGD momentum 0.9 + weight decay 5e-4
//   unet-train       diffusion U-Net (default config, 6.1M parameters), 28x28x1, batch 64: the DDPM
//                    L_simple step (t, ε, 10% null labels), backward, AdamW (synthaug: 4 micro-batches
//                    of 16 with summed gradients, see below; PyTorch: one pass of 64)
//   inception-infer  FID Inception-v3, 299x299x3, batch 16: eval forward to pool features and logits
//   conv-peak        one 3x3 convolution 64->64 on 16x16x64, batch 128, forward only: no target but
//                    the ceiling of the others, the convolution throughput of each side (GFLOP/s printed)
// Each side: warm-up steps, then timed steps; the median step time gives images/s. PyTorch's steps are
// short and its step time varies run to run, so it gets at least 3 warm-up and 10 timed steps, and runs
// twice (before and after synthaug); the faster run is the reference.
//
//   node dist/bench/compute.js [--case NAME[,NAME]] [--backend wasm,native] [--batch N] [--warmup N] [--steps N]
//                              [--profile] [--no-torch]
// --profile prints the kernels taking the most time in one synthaug step of each case and backend.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { loadAddon, nativeInfo } from '../src/backend/native/kernels.js';
import { createClassifier } from '../src/models/registry.js';
import { FIDInceptionV3 } from '../src/models/inception.js';
import { UNet, defaultUNetConfig } from '../src/models/unet.js';
import { createOptimizer, type Optimizer } from '../src/training/optim.js';
import { softCrossEntropy } from '../src/training/loss.js';
import { optimizationStep } from '../src/training/step.js';
import { makeSchedule } from '../src/diffusion/schedule.js';
import { drawTrainingNoise, noisePredictionLoss } from '../src/diffusion/loss.js';
import { Rng } from '../src/util/rng.js';
import type { Module } from '../src/nn/module.js';

const PYTHON = '/usr/bin/python3';
/** Images per forward/backward pass of the U-Net step (see the unet-train case). */
const UNET_MICRO_BATCH = 16;
const TORCH_SCRIPT = fileURLToPath(new URL('../../bench/reference/torch_bench.py', import.meta.url));

interface Case {
  name: string;
  what: string;
  batch: number;
  /** Target ratio of synthaug's fastest backend to PyTorch in images/s (training ≥ 0.9, inference ≥ 1.0); none for a ceiling. */
  target?: number;
  /** Floating-point operations per image, where the case is one known computation (printed as GFLOP/s). */
  flopsPerImage?: number;
  /** Builds the network and returns one step (synchronous: it reads back the loss or output). */
  setup(batch: number): { step: () => void; dispose: () => void };
}

/** One optimisation step through the training loop's step (src/training/step.ts): equal micro-batches, summed gradients. */
function trainStep(model: Module, opt: Optimizer, lr: number, losses: Array<() => tf.Scalar>): void {
  optimizationStep(
    model.namedParameters(),
    opt,
    lr,
    losses.map((loss) => ({ weight: 1 / losses.length, run: () => ({ loss: loss() }) })),
  );
}

const cases: Case[] = [
  {
    name: 'resnet20-train',
    what: 'ResNet-20 training step, 32x32x3',
    batch: 128,
    target: 0.9,
    setup(batch) {
      const model = createClassifier({ arch: 'resnet20', numClasses: 10, inputShape: [32, 32, 3] }, 0);
      const opt = createOptimizer(model.namedParameters(), { optimizer: 'sgd', momentum: 0.9, nesterov: false, weightDecay: 5e-4 });
      const rng = new Rng(0);
      const x = tf.tensor4d(Float32Array.from({ length: batch * 32 * 32 * 3 }, () => rng.normal()), [batch, 32, 32, 3]);
      const y = tf.oneHot(tf.tensor1d(Int32Array.from({ length: batch }, () => rng.int(10)), 'int32'), 10);
      return {
        step: () => trainStep(model, opt, 0.1, [() => softCrossEntropy(model.forward(x, { training: true }), y)]),
        dispose: () => {
          tf.dispose([x, y]);
          model.dispose();
          opt.dispose();
        },
      };
    },
  },
  {
    name: 'unet-train',
    what: 'diffusion U-Net training step, 28x28x1',
    batch: 64,
    target: 0.9,
    setup(batch) {
      const model = new UNet({ ...defaultUNetConfig, imageSize: 28, inChannels: 1, numClasses: 10 }, 0);
      const opt = createOptimizer(model.namedParameters(), { optimizer: 'adamw', momentum: 0, nesterov: false, weightDecay: 0 });
      const schedule = makeSchedule('linear', 1000);
      const rng = new Rng(0);
      // tfjs keeps every intermediate of the forward pass for the backward pass (peak RSS 1.8 GB with 16
      // images a pass, 3.2 GB with 32; a pass of 64 did not finish in 14 minutes, so close is it to the
      // WASM heap's 4 GB end): the batch runs as micro-batches of UNET_MICRO_BATCH with
      // summed gradients and one optimizer update. The U-Net has no batch statistics (GroupNorm is per
      // image), so this is the same step as one pass over the whole batch.
      const micro = Math.min(batch, UNET_MICRO_BATCH);
      if (batch % micro !== 0) throw new Error(`unet-train: batch ${batch} is not a multiple of the micro-batch ${micro}`);
      const chunks = Array.from({ length: batch / micro }, () => ({
        x0: tf.tensor4d(Float32Array.from({ length: micro * 28 * 28 }, () => rng.random() * 2 - 1), [micro, 28, 28, 1]),
        labels: Int32Array.from({ length: micro }, () => rng.int(10)),
      }));
      return {
        step: () =>
          trainStep(
            model,
            opt,
            2e-4,
            chunks.map((c) => () => {
              const draw = drawTrainingNoise([micro, 28, 28, 1], c.labels, { schedule, numClasses: 10, pUncond: 0.1 }, rng);
              return noisePredictionLoss(model, c.x0, draw, schedule);
            }),
          ),
        dispose: () => {
          tf.dispose(chunks.map((c) => c.x0));
          model.dispose();
          opt.dispose();
        },
      };
    },
  },
  {
    name: 'inception-infer',
    what: 'FID Inception-v3 inference, 299x299x3',
    batch: 16,
    target: 1.0,
    setup(batch) {
      const model = new FIDInceptionV3(0);
      const rng = new Rng(0);
      const x = tf.tensor4d(Float32Array.from({ length: batch * 299 * 299 * 3 }, () => rng.random()), [batch, 299, 299, 3]);
      return {
        step: () => {
          const { pool, logits } = model.run(x);
          logits.dataSync();
          tf.dispose([pool, logits]);
        },
        dispose: () => {
          x.dispose();
          model.dispose();
        },
      };
    },
  },
  {
    name: 'conv-peak',
    what: 'ceiling: 3x3 conv 64->64 on 16x16, fwd',
    batch: 128,
    flopsPerImage: 2 * 16 * 16 * 64 * 64 * 9,
    setup(batch) {
      const rng = new Rng(0);
      const x = tf.tensor4d(Float32Array.from({ length: batch * 16 * 16 * 64 }, () => rng.normal()), [batch, 16, 16, 64]);
      const w = tf.tensor4d(Float32Array.from({ length: 9 * 64 * 64 }, () => rng.normal() * 0.05), [3, 3, 64, 64]);
      return {
        step: () => {
          const s = tf.tidy(() => tf.sum(tf.conv2d(x, w, 1, 'same')));
          s.dataSync();
          s.dispose();
        },
        dispose: () => tf.dispose([x, w]),
      };
    },
  },
];

function gflops(imagesPerSec: number, flopsPerImage: number): string {
  return ((imagesPerSec * flopsPerImage) / 1e9).toFixed(0);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function timeSteps(step: () => void, warmup: number, steps: number): number[] {
  for (let i = 0; i < warmup; i++) step();
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    step();
    times.push(performance.now() - t0);
  }
  return times;
}

export interface TorchResult {
  imagesPerSec?: number;
  medianMs?: number;
  threads?: number;
  torch?: string;
  /** The vector instruction set PyTorch's kernels dispatch to (e.g. AVX2). */
  isa?: string;
  numParameters?: number;
  skipped?: string;
}

/** One case of bench/reference/torch_bench.py at a batch size; `skipped` says why when PyTorch cannot run. */
export function runTorch(c: { name: string; batch: number }, warmup: number, steps: number): TorchResult {
  if (!existsSync(PYTHON)) return { skipped: `${PYTHON} not found` };
  const probe = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
  if (probe.status !== 0) return { skipped: `torch/torchvision do not import in ${PYTHON}: ${(probe.stderr || '').trim().split('\n').pop()}` };
  const r = spawnSync(PYTHON, [TORCH_SCRIPT, '--case', c.name, '--batch', String(c.batch), '--warmup', String(warmup), '--steps', String(steps)], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  if (r.status !== 0) return { skipped: `torch_bench.py failed: ${(r.stderr || '').trim().split('\n').pop()}` };
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as TorchResult;
}

/** Kernels by total time in one step (tf.profile; on WASM the time is wall-clock per kernel call). */
async function profileStep(step: () => void, top = 12): Promise<string[]> {
  const info = await tf.profile(step);
  const byKernel = new Map<string, { ms: number; calls: number }>();
  let total = 0;
  for (const k of info.kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    const e = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
    e.ms += ms;
    e.calls++;
    byKernel.set(k.name, e);
    if (!k.name.endsWith('__op')) total += ms;
  }
  return [...byKernel.entries()]
    .filter(([name]) => !name.endsWith('__op')) // op scopes: their kernels are listed themselves
    .sort((a, b) => b[1].ms - a[1].ms)
    .slice(0, top)
    .map(([name, e]) => `    ${name.padEnd(28)} ${e.ms.toFixed(0).padStart(7)} ms  ${((100 * e.ms) / total).toFixed(1).padStart(5)}%  ${e.calls} calls`);
}

type SynthaugBackend = 'wasm' | 'native';

export interface ComputeOptions {
  cases?: string[];
  /** synthaug backends to time (default: wasm, and native where the addon is built). */
  backends?: SynthaugBackend[];
  warmup?: number;
  steps?: number;
  profile?: boolean;
  torch?: boolean;
  /** Overrides every selected case's batch size. */
  batch?: number;
}

/** The CPU's model name and widest vector extension, from /proc/cpuinfo (Linux). */
function cpuDescription(): string {
  let text = '';
  try {
    text = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return 'CPU unknown (no /proc/cpuinfo)';
  }
  const model = /^model name\s*:\s*(.*)$/m.exec(text)?.[1] ?? 'unknown CPU';
  const flags = new Set((/^flags\s*:\s*(.*)$/m.exec(text)?.[1] ?? '').split(' '));
  const isa = flags.has('avx512f') ? 'AVX-512' : flags.has('avx2') ? 'AVX2' : flags.has('avx') ? 'AVX' : 'SSE';
  return `${model}, ${isa}${flags.has('fma') ? '+FMA' : ''}`;
}

/** Images/s of one case on one synthaug backend (median of the timed steps), or undefined if skipped. */
async function timeOurs(c: Case, kind: SynthaugBackend, warmup: number, steps: number, profile: boolean): Promise<number> {
  await initBackend(kind);
  const { step, dispose } = c.setup(c.batch);
  try {
    const times = timeSteps(step, warmup, 0);
    const tensors = tf.memory().numTensors;
    times.push(...timeSteps(step, 0, steps));
    const leaked = tf.memory().numTensors - tensors;
    if (leaked !== 0) console.log(`${c.name}: warning: ${leaked} tensors left behind over ${steps} steps on ${kind}`);
    const ours = c.batch / (median(times) / 1000);
    console.log(`${c.name}: synthaug/${kind} steps ${times.map((t) => t.toFixed(0)).join(', ')} ms → ${ours.toFixed(1)} images/s`);
    if (profile) {
      console.log(`  per-kernel time of one synthaug/${kind} step:`);
      for (const line of await profileStep(step)) console.log(line);
    }
    return ours;
  } finally {
    dispose();
  }
}

export async function run(opts: ComputeOptions = {}): Promise<void> {
  const warmup = opts.warmup ?? 1;
  const steps = opts.steps ?? 3;
  let native = 'not built';
  try {
    loadAddon();
    const info = nativeInfo();
    native = `oneDNN ${info.version} on ${info.isa}, ${info.threads} threads`;
  } catch (err) {
    if (opts.backends?.includes('native')) throw err;
  }
  const backends = opts.backends ?? (native === 'not built' ? ['wasm'] : ['wasm', 'native']);
  const wasm = await initBackend('wasm');
  const selected = opts.cases ? cases.filter((c) => opts.cases!.includes(c.name)) : cases;
  console.log(`CPU: ${cpuDescription()}; ${os.availableParallelism()} cores`);
  console.log(`synthaug backends: ${backends.join(', ')} (WASM ${wasm.threads} thread${wasm.threads === 1 ? '' : 's'}; native: ${native}); warm-up ${warmup}, timed ${steps} (median)`);
  const rows: string[] = [];
  for (const c of selected) {
    if (opts.batch) c.batch = opts.batch;
    // PyTorch runs before and after synthaug's steps and the faster of its two runs is the reference: its
    // step time moves between runs (up to 20% for Inception-v3), and the ratio should not gain from that.
    const torchRun = () => (opts.torch === false ? { skipped: 'disabled (--no-torch)' } : runTorch(c, Math.max(warmup, 3), Math.max(steps, 10)));
    const torchBefore = torchRun();
    const ours = new Map<SynthaugBackend, number>();
    for (const kind of backends) ours.set(kind, await timeOurs(c, kind, warmup, steps, opts.profile === true));
    const torchAfter = torchRun();
    const torch = (torchAfter.imagesPerSec ?? 0) > (torchBefore.imagesPerSec ?? 0) ? torchAfter : torchBefore;
    const column = (kind: SynthaugBackend) => (ours.has(kind) ? ours.get(kind)!.toFixed(1) : '-').padStart(10);
    const best = Math.max(...ours.values());
    const cells = `${c.what.padEnd(40)} ${String(c.batch).padStart(5)} ${column('wasm')} ${column('native')}`;
    if (torch.skipped || torch.imagesPerSec === undefined) {
      console.log(`${c.name}: PyTorch reference skipped: ${torch.skipped}`);
      rows.push(`${cells} ${'-'.padStart(10)} ${'-'.padStart(7)}`);
      continue;
    }
    const ratio = best / torch.imagesPerSec;
    const runs = [torchBefore, torchAfter].map((t) => (t.imagesPerSec ?? 0).toFixed(1)).join(' before, ') + ' after';
    console.log(`${c.name}: PyTorch ${torch.torch} (${torch.threads} threads) median ${torch.medianMs?.toFixed(0)} ms → ${torch.imagesPerSec.toFixed(1)} images/s (runs: ${runs}; the faster is the reference)`);
    const verdict =
      c.target !== undefined
        ? `${ratio >= c.target ? 'meets' : 'misses'} ≥ ${c.target}`
        : c.flopsPerImage
          ? `${[...ours.entries()].map(([k, v]) => `${k} ${gflops(v, c.flopsPerImage!)}`).join(', ')} vs ${gflops(torch.imagesPerSec, c.flopsPerImage)} GFLOP/s`
          : '';
    rows.push(`${cells} ${torch.imagesPerSec.toFixed(1).padStart(10)} ${ratio.toFixed(2).padStart(7)}  ${verdict}`);
  }
  console.log(`\n${'case'.padEnd(40)} ${'batch'.padStart(5)} ${'WASM'.padStart(10)} ${'native'.padStart(10)} ${'PyTorch'.padStart(10)} ${'ratio'.padStart(7)}   (images/s; ratio: fastest synthaug / PyTorch)`);
  for (const r of rows) console.log(r);
  console.log(`CPU: ${cpuDescription()}`);
}

/**
 * Walks a bench's command line: `take(flag, value)` handles one flag (calling value() for its argument) and
 * returns false for a flag it does not know, which is an error listing `known`.
 */
export function parseFlags(argv: string[], known: string, take: (flag: string, value: () => string) => boolean): void {
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (!take(flag, value)) throw new Error(`unknown argument ${flag} (known: ${known})`);
  }
}

function parseArgs(argv: string[]): ComputeOptions {
  const o: ComputeOptions = {};
  parseFlags(argv, '--case NAME[,NAME] --backend wasm,native --batch N --warmup N --steps N --profile --no-torch', (a, value) => {
    if (a === '--case') o.cases = value().split(',');
    else if (a === '--backend') o.backends = value().split(',') as SynthaugBackend[];
    else if (a === '--warmup') o.warmup = Number(value());
    else if (a === '--steps') o.steps = Number(value());
    else if (a === '--batch') o.batch = Number(value());
    else if (a === '--profile') o.profile = true;
    else if (a === '--no-torch') o.torch = false;
    else return false;
    return true;
  });
  const known = cases.map((c) => c.name);
  for (const c of o.cases ?? []) if (!known.includes(c)) throw new Error(`unknown case ${c} (known: ${known.join(', ')})`);
  for (const b of o.backends ?? []) if (b !== 'wasm' && b !== 'native') throw new Error(`unknown backend ${b} (known: wasm, native)`);
  return o;
}

/** Runs a bench module's `run` when that module is the script node was started with. */
export function runIfMain<O>(moduleUrl: string, run: (o: O) => Promise<void>, parse: (argv: string[]) => O): void {
  if (!process.argv[1] || fileURLToPath(moduleUrl) !== process.argv[1]) return;
  // Exit explicitly: the WASM backend's pthread workers can keep the event loop alive after the run.
  Promise.resolve()
    .then(() => run(parse(process.argv.slice(2))))
    .then(
      () => process.exit(0),
      (err) => {
        console.error(err instanceof Error ? err.message : err);
        process.exit(1);
      },
    );
}

runIfMain(import.meta.url, run, parseArgs);

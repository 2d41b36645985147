// Sampling throughput: images/s of guided sampling with a freshly initialised U-Net of the fmnist preset
// (28x28x1, 10 classes, 32 base channels, multipliers 1,2,2, attention at 7x7), in synthaug and in PyTorch
// (bench/reference/torch_bench.py --case unet-sample, the twin from unet_twin.py), at several batch sizes.
//
// One step is what every sampler step costs at least: the EDM-preconditioned network on the conditional
// and unconditional halves as one batch of 2B (guidance w = 1.5) and a DDIM (Euler) update; as in
// `synthaug sample`, the network takes at most NETWORK_BATCH images a call (--network-batch to vary it).
// PyTorch runs the 2B images as one call. Sampling
// 50 steps costs 50 such steps (Heun: 99 network calls for 50 steps), so the figure printed is
// images/s for 50 steps = B / (50 × median step time); --full runs the 50 steps end to end instead.
// Prints the instruction set each side runs on: WASM SIMD is 128-bit whatever the host; PyTorch reports
// the vector ISA its kernels dispatch to.
//
//   node dist/bench/sampling.js [--batches 32,64,128,256] [--network-batch N] [--warmup N] [--steps N] [--full] [--no-torch]
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { UNet, type UNetConfig } from '../src/models/unet.js';
import { EDM_DEFAULTS, edmDenoiser } from '../src/diffusion/edm.js';
import { guidedDenoiser } from '../src/diffusion/guidance.js';
import { NETWORK_BATCH } from '../src/diffusion/generate.js';
import { samplers } from '../src/diffusion/samplers.js';
import { karrasSigmas } from '../src/diffusion/sigmas.js';
import { Rng } from '../src/util/rng.js';
import { UNET_PRESETS } from '../src/training/diffusion.js';
import { median, parseFlags, runIfMain, runTorch } from './compute.js';

const SAMPLER_STEPS = 50;
const GUIDANCE = 1.5;

/** finetune's fmnist preset with 10 classes; torch_bench.py's FMNIST_PRESET is the same network. */
const FMNIST: UNetConfig = { ...UNET_PRESETS.fmnist, numClasses: 10 };

export interface SamplingOptions {
  batches?: number[];
  /** Images per network call at most (as `sample` does: NETWORK_BATCH). */
  networkBatch?: number;
  warmup?: number;
  steps?: number;
  full?: boolean;
  torch?: boolean;
}

/** The host's x86 vector extensions, from /proc/cpuinfo. */
function hostIsa(): string {
  try {
    const flags = new Set((/^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '').trim().split(/\s+/));
    const found = ['avx512f', 'avx2', 'fma', 'sse4_2'].filter((f) => flags.has(f));
    return found.length ? found.join(' ') : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Median milliseconds of one guided DDIM step at batch B (or of the whole 50-step run with `full`). */
function timeSynthaug(net: UNet, batch: number, o: Required<SamplingOptions>): { stepMs: number; steps: number[] } {
  const denoiser = edmDenoiser(net, { numClasses: FMNIST.numClasses, imageShape: [28, 28, 1], constants: EDM_DEFAULTS });
  const rng = new Rng(batch);
  const labels = Int32Array.from({ length: batch }, () => rng.int(FMNIST.numClasses));
  const denoise = guidedDenoiser(denoiser, labels, GUIDANCE, o.networkBatch);
  const x = tf.tensor4d(Float32Array.from({ length: batch * 784 }, () => rng.normal() * EDM_DEFAULTS.sigmaMax), [batch, 28, 28, 1]);
  const sigmas = karrasSigmas(SAMPLER_STEPS, EDM_DEFAULTS.sigmaMin, EDM_DEFAULTS.sigmaMax);
  const run = (levels: ArrayLike<number>) => {
    const out = samplers.ddim.run(denoise, x, levels);
    out.dataSync();
    out.dispose();
  };
  try {
    if (o.full) {
      run(karrasSigmas(1, EDM_DEFAULTS.sigmaMin, EDM_DEFAULTS.sigmaMax));
      const t0 = performance.now();
      run(sigmas);
      const ms = performance.now() - t0;
      return { stepMs: ms / SAMPLER_STEPS, steps: [ms] };
    }
    const times: number[] = [];
    for (let i = 0; i < o.warmup + o.steps; i++) {
      const t0 = performance.now();
      run([sigmas[i % SAMPLER_STEPS], 0]); // one network call (2B images) and one update
      if (i >= o.warmup) times.push(performance.now() - t0);
    }
    return { stepMs: median(times), steps: times };
  } finally {
    x.dispose();
  }
}

export async function run(opts: SamplingOptions = {}): Promise<void> {
  const o: Required<SamplingOptions> = { batches: [32, 64, 128, 256], networkBatch: NETWORK_BATCH, warmup: 1, steps: 2, full: false, torch: true, ...opts };
  const backend = await initBackend('auto');
  const net = new UNet(FMNIST, 0);
  const params = net.namedParameters().reduce((n, [, v]) => n + v.size, 0);
  console.log(
    `synthaug backend: ${backend.name}${backend.threads ? ` (${backend.threads} threads)` : ''}; ISA: ${backend.name === 'wasm' ? 'WASM SIMD 128-bit' : backend.name} on a host with ${hostIsa()}`,
  );
  console.log(`fmnist U-Net, ${params.toLocaleString('en')} parameters; guidance ${GUIDANCE} (2B images a step, at most ${o.networkBatch} a network call); DDIM step; ${o.full ? 'full 50-step runs' : `warm-up ${o.warmup}, timed ${o.steps} steps (median)`}`);
  const rows: string[] = [];
  let best = { batch: 0, rate: 0 };
  try {
    for (const batch of o.batches) {
      const ours = timeSynthaug(net, batch, o);
      const rate = batch / ((SAMPLER_STEPS * ours.stepMs) / 1000);
      if (rate > best.rate) best = { batch, rate };
      console.log(`batch ${batch}: synthaug ${o.full ? 'run' : 'steps'} ${ours.steps.map((t) => t.toFixed(0)).join(', ')} ms → ${rate.toPrecision(3)} images/s for ${SAMPLER_STEPS} steps`);
      const torch = o.torch ? runTorch({ name: 'unet-sample', batch }, Math.max(o.warmup, 1), Math.max(o.steps, 3)) : { skipped: 'disabled (--no-torch)' };
      if (torch.imagesPerSec === undefined) {
        console.log(`batch ${batch}: PyTorch skipped: ${torch.skipped}`);
        rows.push(`${String(batch).padStart(5)} ${rate.toPrecision(3).padStart(10)} ${'-'.padStart(10)} ${'-'.padStart(7)}`);
        continue;
      }
      const torchRate = torch.imagesPerSec / SAMPLER_STEPS; // its figure is images per step
      console.log(`batch ${batch}: PyTorch ${torch.torch} (${torch.threads} threads, ISA ${torch.isa}, ${torch.numParameters?.toLocaleString('en')} parameters) median ${torch.medianMs?.toFixed(0)} ms → ${torchRate.toPrecision(3)} images/s`);
      rows.push(`${String(batch).padStart(5)} ${rate.toPrecision(3).padStart(10)} ${torchRate.toPrecision(3).padStart(10)} ${(rate / torchRate).toFixed(2).padStart(7)}`);
    }
  } finally {
    net.dispose();
  }
  console.log(`\nguided sampling, ${SAMPLER_STEPS} steps, 28x28x1 fmnist U-Net (images/s)`);
  console.log(`${'batch'.padStart(5)} ${'synthaug'.padStart(10)} ${'PyTorch'.padStart(10)} ${'ratio'.padStart(7)}`);
  for (const r of rows) console.log(r);
  console.log(`fastest synthaug batch: ${best.batch} (${best.rate.toPrecision(3)} images/s)`);
}

function parseArgs(argv: string[]): SamplingOptions {
  const o: SamplingOptions = {};
  parseFlags(argv, '--batches N[,N] --network-batch N --warmup N --steps N --full --no-torch', (a, value) => {
    if (a === '--batches') o.batches = value().split(',').map(Number);
    else if (a === '--network-batch') o.networkBatch = Number(value());
    else if (a === '--warmup') o.warmup = Number(value());
    else if (a === '--steps') o.steps = Number(value());
    else if (a === '--full') o.full = true;
    else if (a === '--no-torch') o.torch = false;
    else return false;
    return true;
  });
  if (o.batches?.some((b) => !Number.isInteger(b) || b < 1)) throw new Error('--batches takes positive integers');
  return o;
}

runIfMain(import.meta.url, run, parseArgs);

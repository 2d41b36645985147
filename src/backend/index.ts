// The backend ladder (docs/design.md, Compute): `auto` takes @tensorflow/tfjs-node-gpu, then
// @tensorflow/tfjs-node, then `native` (the WASM backend with synthaug's oneDNN kernels over its
// convolutions and matrix products), then WASM, then the pure-JS cpu backend. The tfjs-node packages are
// optional dependencies whose libtensorflow download may have failed, and the oneDNN addon is built only
// where oneDNN is installed; all are loaded only dynamically, so a missing or broken one costs nothing but
// a line under --verbose saying why and how to get it.
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { UsageError } from '../errors.js';
import { debug } from '../log.js';
import { registerGradients } from './gradients.js';
import { wasmKernels } from './wasm/kernels.js';
import { startWasm } from './wasm/threads.js';
import { guardHeap } from './wasm/heap.js';
import { loadAddon, nativeKernels, NATIVE_REMEDY } from './native/kernels.js';

export const BACKEND_CHOICES = ['auto', 'tensorflow', 'native', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

export interface BackendInfo {
  /** The tfjs backend now active: 'tensorflow', 'wasm' or 'cpu' ('wasm' also for --backend native). */
  name: string;
  /** The ladder's rung taken: 'tensorflow', 'native', 'wasm' or 'cpu'. */
  kind: Exclude<BackendChoice, 'auto'>;
  /** Why each rung above it was passed over, and what was chosen. */
  reasons: string[];
  /** WASM only: the number of threads its kernels use. */
  threads?: number;
}

/** A way to get a rung that did not load, printed with the reason under --verbose. */
type Rung = { name: string; load: () => Promise<void>; remedy: string };

/**
 * tfjs-core's own bundle holds no gradient functions and no chained ops (x.add(...)); the
 * @tensorflow/tfjs bundle registers both, into the one tfjs-core the process already has.
 */
async function loadGradients(): Promise<void> {
  await import('@tensorflow/tfjs');
  registerGradients();
}

async function loadNative(pkg: string): Promise<void> {
  // A package that brought its own tfjs-core would register its backend with another engine.
  await import(pkg);
  if (tf.findBackendFactory('tensorflow') === null) {
    throw new Error(`${pkg} loaded but registered no 'tensorflow' backend with this tfjs-core (a second copy of tfjs-core?)`);
  }
}

const rungs: Record<Exclude<BackendChoice, 'auto'>, Rung[]> = {
  tensorflow: [
    {
      name: '@tensorflow/tfjs-node-gpu',
      load: () => loadNative('@tensorflow/tfjs-node-gpu'),
      remedy: 'needs an NVIDIA GPU with CUDA; npm install @tensorflow/tfjs-node-gpu',
    },
    { name: '@tensorflow/tfjs-node', load: () => loadNative('@tensorflow/tfjs-node'), remedy: 'npm install @tensorflow/tfjs-node' },
  ],
  native: [
    {
      name: 'native (WASM + oneDNN kernels)',
      load: async () => {
        await import('@tensorflow/tfjs-backend-wasm');
        loadAddon();
      },
      remedy: NATIVE_REMEDY,
    },
  ],
  wasm: [{ name: 'wasm', load: async () => void (await import('@tensorflow/tfjs-backend-wasm')), remedy: 'npm ci' }],
  cpu: [{ name: 'cpu', load: async () => void (await import('@tensorflow/tfjs-backend-cpu')), remedy: 'npm ci' }],
};

const backendOf: Record<Exclude<BackendChoice, 'auto'>, string> = { tensorflow: 'tensorflow', native: 'wasm', wasm: 'wasm', cpu: 'cpu' };

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}

async function activate(kind: Exclude<BackendChoice, 'auto'>): Promise<number | undefined> {
  const name = backendOf[kind];
  if (kind === 'wasm' || kind === 'native') {
    const threads = await startWasm();
    guardHeap(tf.backend() as BackendWasm);
    wasmKernels.register();
    if (kind === 'native') nativeKernels.register();
    else nativeKernels.unregister();
    return threads;
  }
  if (!(await tf.setBackend(name))) throw new Error(`tf.setBackend('${name}') failed`);
  // The cpu backend's first write prints a "install tfjs-node" banner; --verbose already says why.
  if (kind === 'cpu') (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
  return undefined;
}

let current: Promise<BackendInfo> | undefined;
let currentChoice: BackendChoice | undefined;

/**
 * Make `choice` the active tfjs backend and register synthaug's kernels for it. `auto` falls through
 * the ladder; an explicit choice that cannot load is a UsageError. Calling it again with the same
 * choice returns the first result.
 */
export function initBackend(choice: BackendChoice = defaultBackend()): Promise<BackendInfo> {
  if (current !== undefined && currentChoice === choice) return current;
  currentChoice = choice;
  current = climb(choice);
  current.catch(() => {
    current = undefined;
    currentChoice = undefined;
  });
  return current;
}

async function climb(choice: BackendChoice): Promise<BackendInfo> {
  await loadGradients();
  const kinds: Exclude<BackendChoice, 'auto'>[] = choice === 'auto' ? ['tensorflow', 'native', 'wasm', 'cpu'] : [choice];
  const reasons: string[] = [];
  for (const kind of kinds) {
    for (const rung of rungs[kind]) {
      try {
        await rung.load();
        const threads = await activate(kind);
        if (tf.getBackend() !== backendOf[kind]) {
          throw new Error(`tfjs reports backend '${tf.getBackend()}' after selecting '${backendOf[kind]}'`);
        }
        const detail = threads === undefined ? '' : ` (${threads} thread${threads === 1 ? '' : 's'})`;
        reasons.push(`using ${rung.name}${detail}`);
        for (const r of reasons) debug(`backend: ${r}`);
        return { name: tf.getBackend(), kind, reasons, threads };
      } catch (err) {
        const why = firstLine(err);
        reasons.push(`${rung.name} unavailable: ${why}${why.includes(rung.remedy) ? '' : ` (to get it: ${rung.remedy})`}`);
      }
    }
  }
  for (const r of reasons) debug(`backend: ${r}`);
  if (choice === 'auto') throw new Error(`no tfjs backend could be loaded: ${reasons.join('; ')}`);
  throw new UsageError(`--backend ${choice} cannot be used here: ${reasons.join('; ')}`);
}

/** The default for --backend: SYNTHAUG_BACKEND when set, else 'auto'. */
export function defaultBackend(env: NodeJS.ProcessEnv = process.env): BackendChoice {
  const v = env.SYNTHAUG_BACKEND;
  if (v === undefined || v === '') return 'auto';
  if (!(BACKEND_CHOICES as readonly string[]).includes(v)) {
    throw new UsageError(`Expected one of ${BACKEND_CHOICES.join('|')} for SYNTHAUG_BACKEND but received ${JSON.stringify(v)}`);
  }
  return v as BackendChoice;
}

export { registerWasmKernels, unregisterWasmKernels, builtinWasmKernel } from './wasm/kernels.js';
export type { KernelSet } from './kernel-set.js';
export { wasmKernels } from './wasm/kernels.js';
export { HeapExhausted, WASM_HEAP_LIMIT } from './wasm/heap.js';
export { nativeKernels } from './native/kernels.js';

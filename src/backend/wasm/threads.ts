// Starting the WASM backend, multi-threaded where possible.
//
// tfjs-backend-wasm 4.22 ships a threaded SIMD build but never uses it in Node: its
// WASM_HAS_MULTITHREAD_SUPPORT flag is hard-wired false under Node (tfjs issue 3830), and, forced on,
// it creates its pthread workers from Blob URLs, which Node's worker_threads cannot load. Three
// adjustments make it run with the published package:
// 1. worker_threads.Worker is wrapped so that a `blob:` script becomes the package's own worker script
//    (wasm-out/…threaded-simd.worker.js) run with `eval: true`, with importScripts of the main script's
//    Blob URL redirected to the factory file on disk (wasm-out/…threaded-simd.js);
// 2. the flag is set true for the initialisation;
// 3. the C++ side sizes its pool as min(requested, logical cores / 2) — one thread on a 2-vCPU machine —
//    so os.cpus() reports each core twice while the module initialises.
// Any failure falls back to the single-threaded SIMD build; SYNTHAUG_WASM_THREADS=1 skips the attempt.
import { createRequire } from 'node:module';
import type { Worker } from 'node:worker_threads';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { debug } from '../../log.js';

const require = createRequire(import.meta.url);

type WasmModule = typeof import('@tensorflow/tfjs-backend-wasm');

/** Threads to ask for: SYNTHAUG_WASM_THREADS, else the cores available (the build pre-spawns at most 8). */
export function wantedThreads(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.SYNTHAUG_WASM_THREADS;
  if (v !== undefined && v !== '') {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`SYNTHAUG_WASM_THREADS must be a positive integer, not ${JSON.stringify(v)}`);
    return Math.min(n, 8);
  }
  return Math.min(os.availableParallelism(), 8);
}

let workerShimInstalled = false;

/** Let worker_threads start the threaded build's Blob-URL workers (see the file comment, step 1). */
function installWorkerShim(): void {
  if (workerShimInstalled) return;
  const wasmOut = require.resolve('@tensorflow/tfjs-backend-wasm/package.json').replace(/package\.json$/, 'wasm-out/');
  const { wasmWorkerContents } = require(`${wasmOut}tfjs-backend-wasm-threaded-simd.worker.js`) as { wasmWorkerContents: string };
  const factoryPath = `${wasmOut}tfjs-backend-wasm-threaded-simd.js`;
  if (!wasmWorkerContents.includes('importScripts(objectUrl)')) throw new Error('unexpected tfjs-backend-wasm worker script');
  // The worker text is a template literal whose "\n" escapes became newlines; tfjs re-escapes them too.
  const script = `${wasmWorkerContents.replace(/\n/g, '\\n')}
;{const load=importScripts;importScripts=f=>load(String(f).startsWith("blob:")?${JSON.stringify(factoryPath)}:f);}`;
  const threads = require('node:worker_threads') as typeof import('node:worker_threads');
  const Base = threads.Worker;
  class BlobScriptWorker extends Base {
    constructor(file: string | URL, options?: import('node:worker_threads').WorkerOptions) {
      // execArgv []: the worker script is CommonJS whatever the parent runs as (--input-type=module...).
      if (String(file).startsWith('blob:')) super(script, { ...options, eval: true, execArgv: [] });
      else super(file, options);
    }
  }
  threads.Worker = BlobScriptWorker;
  workerShimInstalled = true;
}

async function startThreaded(wasm: WasmModule, n: number): Promise<boolean> {
  installWorkerShim();
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasm.setThreadsCount(n);
  const cpus = os.cpus;
  const real = cpus();
  os.cpus = () => [...real, ...real];
  let ok: boolean;
  try {
    ok = await tf.setBackend('wasm');
  } finally {
    os.cpus = cpus;
  }
  if (ok) {
    // The thread pool's workers stay ref'd and would keep the process alive after its work is done.
    const pthread = (tf.backend() as unknown as { wasm: { PThread?: { runningWorkers: Worker[]; unusedWorkers: Worker[] } } }).wasm.PThread;
    for (const w of [...(pthread?.runningWorkers ?? []), ...(pthread?.unusedWorkers ?? [])]) w.unref();
  }
  return ok;
}

/** Select the WASM backend; returns the number of threads its kernels use. */
export async function startWasm(): Promise<number> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  if (tf.findBackend('wasm') !== null) {
    if (!(await tf.setBackend('wasm'))) throw new Error("tf.setBackend('wasm') failed");
    return wasm.getThreadsCount();
  }
  const n = wantedThreads();
  if (n > 1) {
    try {
      if (await startThreaded(wasm, n)) return wasm.getThreadsCount();
      debug('backend: threaded WASM did not initialise; using one thread');
    } catch (err) {
      debug(`backend: threaded WASM failed (${err instanceof Error ? err.message : String(err)}); using one thread`);
    }
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  }
  wasm.setThreadsCount(1);
  if (!(await tf.setBackend('wasm'))) throw new Error("tf.setBackend('wasm') failed");
  return wasm.getThreadsCount();
}

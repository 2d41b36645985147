// Hand-written WASM modules (src/backend/wasm/*.wat, assembled to .wasm beside this file at build time)
// instantiated on the tfjs WASM backend's own memory, so that they read and write tensors in place.
import { readFileSync } from 'node:fs';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

const compiled = new Map<string, WebAssembly.Module>();
const instances = new WeakMap<WebAssembly.Memory, Map<string, unknown>>();

/** The backend's WebAssembly.Memory: exported as wasmMemory by the threaded build, as asm.memory by the other. */
export function memoryOf(backend: BackendWasm): WebAssembly.Memory {
  const wasm = backend.wasm as unknown as { wasmMemory?: WebAssembly.Memory; asm?: { memory?: WebAssembly.Memory } };
  const memory = wasm.wasmMemory ?? wasm.asm?.memory;
  if (!(memory instanceof WebAssembly.Memory)) throw new Error('the tfjs WASM module exposes no WebAssembly.Memory (a tfjs-backend-wasm other than 4.22?)');
  return memory;
}

/**
 * The exports of `<name>.wasm` instantiated on `backend`'s memory (compiled once, instantiated once per
 * memory). The threaded WASM build has a shared memory, the single-threaded one a plain memory: each
 * .wat is assembled twice (assemble.mjs) and the variant matching the memory is loaded.
 */
export function simdModule<T>(backend: BackendWasm, name: string): T {
  const memory = memoryOf(backend);
  const file = memory.buffer instanceof SharedArrayBuffer ? `${name}.wasm` : `${name}.unshared.wasm`;
  let byName = instances.get(memory);
  if (byName === undefined) instances.set(memory, (byName = new Map()));
  let exports = byName.get(name);
  if (exports === undefined) {
    let module = compiled.get(file);
    if (module === undefined) {
      module = new WebAssembly.Module(readFileSync(new URL(`./${file}`, import.meta.url)));
      compiled.set(file, module);
    }
    exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
    byName.set(name, exports);
  }
  return exports as T;
}

/** Byte offset of `t`'s data in the WASM memory. */
export function heapOffset(backend: BackendWasm, t: TensorInfo): number {
  return (backend.dataIdMap.get(t.dataId) as { memoryOffset: number }).memoryOffset;
}

// Hand-written WASM modules (src/backend/wasm/*.wat, assembled to .wasm beside this file at build time)
// instantiated on the tfjs WASM backend's own memory, so that they read and write tensors in place.
import { readFileSync } from 'node:fs';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

const compiled = new Map<string, WebAssembly.Module>();
const instances = new WeakMap<WebAssembly.Memory, Map<string, unknown>>();

/** The exports of `<name>.wasm` instantiated on `backend`'s memory (compiled once, instantiated once per memory). */
export function simdModule<T>(backend: BackendWasm, name: string): T {
  const memory = (backend.wasm as unknown as { wasmMemory: WebAssembly.Memory }).wasmMemory;
  let byName = instances.get(memory);
  if (byName === undefined) instances.set(memory, (byName = new Map()));
  let exports = byName.get(name);
  if (exports === undefined) {
    let module = compiled.get(name);
    if (module === undefined) {
      module = new WebAssembly.Module(readFileSync(new URL(`./${name}.wasm`, import.meta.url)));
      compiled.set(name, module);
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

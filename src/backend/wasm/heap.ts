// The WASM heap's end. tfjs-backend-wasm is a 32-bit WebAssembly module: its memory grows on demand up
// to 4 GiB and no further. When an allocation does not fit, its malloc returns 0, and tfjs 4.22 does not
// check: the tensor is placed at address 0, over the module's own data and allocator state, and the
// process then spins in the allocator or aborts, with no message. guardHeap makes that allocation throw
// HeapExhausted instead, before anything is written.
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { memoryOf } from './simd.js';

/** Bytes the WASM backend can address: 4 GiB (wasm32). */
export const WASM_HEAP_LIMIT = 2 ** 32;

const GiB = 2 ** 30;

/** An allocation on the WASM heap failed: the heap is at its end (or the host refused it more memory). */
export class HeapExhausted extends Error {
  override name = 'HeapExhausted';
  constructor(
    readonly requested: number,
    readonly heapBytes: number,
  ) {
    super(
      `the WASM heap is full: ${(requested / 2 ** 20).toFixed(1)} MiB more did not fit in its ${(heapBytes / GiB).toFixed(2)} GiB ` +
        `(tfjs's WASM backend addresses at most ${WASM_HEAP_LIMIT / GiB} GiB)`,
    );
  }
}

type Malloc = (bytes: number) => number;

const guardedModules = new WeakSet<object>();

/** Make `backend`'s malloc throw HeapExhausted where it would return 0 (once per backend). */
export function guardHeap(backend: BackendWasm): void {
  const wasm = backend.wasm as unknown as { _malloc: Malloc };
  if (guardedModules.has(wasm)) return;
  let malloc = wasm._malloc;
  const guarded: Malloc = (bytes) => {
    // The module's malloc takes a 32-bit size: a larger one would wrap to a small allocation.
    const at = bytes < WASM_HEAP_LIMIT ? malloc(bytes) >>> 0 : 0;
    if (at === 0 && bytes > 0) throw new HeapExhausted(bytes, memoryOf(backend).buffer.byteLength);
    return at;
  };
  // Emscripten's _malloc starts as a stub that, on its first call, assigns the WASM export over itself:
  // that assignment replaces what the guard calls, not the guard.
  Object.defineProperty(wasm, '_malloc', {
    configurable: true,
    enumerable: true,
    get: () => guarded,
    set: (f: Malloc) => {
      malloc = f;
    },
  });
  guardedModules.add(wasm);
}

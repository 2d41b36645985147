// Composing a WASM kernel out of other WASM kernels, below the engine: each step calls a registered
// kernelFunc directly on TensorInfos (no tape, no engine bookkeeping) and the scope frees every
// intermediate it made, so a composed kernel leaves exactly one new buffer behind: its output.
import { getKernel, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export type Shape4 = [number, number, number, number];

export class KernelScope {
  private readonly made: TensorInfo[] = [];

  constructor(readonly backend: BackendWasm) {}

  /** Run the WASM kernel `name`; its output is freed by dispose() unless kept. */
  run(name: string, inputs: Record<string, TensorInfo>, attrs: NamedAttrMap = {}): TensorInfo {
    const kernel = getKernel(name, 'wasm');
    if (kernel === undefined) throw new Error(`WASM kernel ${name} is not registered`);
    const out = kernel.kernelFunc({ inputs, attrs, backend: this.backend }) as TensorInfo;
    this.made.push(out);
    return out;
  }

  /** A new float32 tensor of `shape` in the WASM heap (contents undefined); freed by dispose() unless kept. */
  alloc(shape: number[]): TensorInfo {
    const out = this.backend.makeOutput(shape, 'float32');
    this.made.push(out);
    return out;
  }

  /**
   * A Float32Array view of `t`'s data in the WASM heap. Take views only after the last alloc() or run()
   * of a kernel step: an allocation may grow (and so replace) the heap, detaching earlier views.
   */
  heap(t: TensorInfo): Float32Array {
    return this.backend.typedArrayFromHeap(t) as Float32Array;
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run('Transpose', { x }, { perm });
  }

  /** Zero-pad where an amount is positive and crop where it is negative: `amounts[d] = [before, after]`. */
  padOrCrop(x: TensorInfo, amounts: [number, number][]): TensorInfo {
    let t = x;
    if (amounts.some(([a, b]) => a < 0 || b < 0)) {
      const begin = amounts.map(([a]) => Math.max(0, -a));
      const size = amounts.map(([a, b], d) => t.shape[d] - Math.max(0, -a) - Math.max(0, -b));
      if (size.some((s) => s <= 0)) throw new Error(`crop leaves an empty tensor from shape [${t.shape}]`);
      t = this.run('Slice', { x: t }, { begin, size });
    }
    if (amounts.some(([a, b]) => a > 0 || b > 0)) {
      const paddings = amounts.map(([a, b]) => [Math.max(0, a), Math.max(0, b)]);
      t = this.run('PadV2', { x: t }, { paddings, constantValue: 0 });
    }
    return t;
  }

  /** Keep `t` alive past dispose(): it becomes the composed kernel's output. */
  keep(t: TensorInfo): TensorInfo {
    const i = this.made.lastIndexOf(t);
    if (i >= 0) this.made.splice(i, 1);
    return t;
  }

  dispose(): void {
    for (const t of this.made) this.backend.disposeData(t.dataId);
    this.made.length = 0;
  }
}

/** Run `body` in a fresh scope; everything it made except its result is freed, also on error. */
export function composed(backend: BackendWasm, body: (s: KernelScope) => TensorInfo): TensorInfo {
  const scope = new KernelScope(backend);
  try {
    return scope.keep(body(scope));
  } finally {
    scope.dispose();
  }
}

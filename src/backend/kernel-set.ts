// A set of kernels synthaug registers over a tfjs backend's own: the WASM SIMD kernels (wasm/kernels.ts)
// and the oneDNN kernels (native/kernels.ts) both run on the WASM backend, the second over the first.
import * as tf from '@tensorflow/tfjs-core';

export interface KernelSet {
  /** 'wasm' or 'native'. */
  readonly name: string;
  /** The kernel names the set registers. */
  readonly names: readonly string[];
  /** Make the set usable in this process (load its code); throws, saying why and the remedy, where it cannot be. */
  load(): void;
  /** Register the set's kernels over whatever is registered under their names. Idempotent. */
  register(): void;
  /** Put back what register() replaced. */
  unregister(): void;
}

/**
 * Whether the active backend has synthaug's kernel `name` (a fused update, activation or channel pass) for
 * these tensors: float32 and not empty. Elsewhere the caller computes the same thing with tfjs ops.
 */
export function hasFusedKernel(name: string, ...ts: tf.Tensor[]): boolean {
  return ts.every((t) => t.dtype === 'float32' && t.size > 0) && tf.getKernel(name, tf.getBackend()) !== undefined;
}

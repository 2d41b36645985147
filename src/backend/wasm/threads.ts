// Starting the WASM backend.
import * as tf from '@tensorflow/tfjs-core';

/** Select the WASM backend; returns the number of threads its kernels use. */
export async function startWasm(): Promise<number> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  if (!(await tf.setBackend('wasm'))) throw new Error("tf.setBackend('wasm') failed");
  return wasm.getThreadsCount();
}

// The one mapping between this module system's tensors and PyTorch state_dict layout, used for
// every weights file synthaug writes or reads (so torchvision/timm code can load our files and we
// can load theirs):
//   rank-4 tensors (conv kernels):      tfjs HWIO [kh, kw, in, out]  ↔  PyTorch OIHW [out, in, kh, kw]
//   rank-2 tensors named `*.weight` (Linear):    [in, out]           ↔  [out, in]
//   everything else (biases, norms, cls_token, pos_embed...) is unchanged.
// On export each BatchNorm (recognised by its `running_mean`) also gets PyTorch's
// `num_batches_tracked` counter (I64 scalar, 0), so that `load_state_dict(strict=True)` accepts the
// file; on import those counters are ignored.
import * as tf from '@tensorflow/tfjs-core';
import { InputError } from '../errors.js';
import type { Module } from '../nn/module.js';
import type { NamedTensor } from '../nn/safetensors.js';

/** tfjs layout → PyTorch layout for the state entry `name`. */
export function toTorchLayout(name: string, t: tf.Tensor): tf.Tensor {
  if (t.rank === 4) return tf.transpose(t, [3, 2, 0, 1]);
  if (t.rank === 2 && name.endsWith('.weight')) return tf.transpose(t);
  return tf.clone(t);
}

/** PyTorch layout → tfjs layout for the state entry `name` (the inverse of toTorchLayout). */
export function fromTorchLayout(name: string, t: tf.Tensor): tf.Tensor {
  if (t.rank === 4) return tf.transpose(t, [2, 3, 1, 0]);
  if (t.rank === 2 && name.endsWith('.weight')) return tf.transpose(t);
  return tf.clone(t);
}

/** A module's parameters and buffers as F32 safetensors entries in PyTorch layout. */
export function exportTorchState(module: Module): Map<string, NamedTensor> {
  return exportTorchTensors(module.stateDict());
}

/** Named tensors in tfjs layout (a module's state, or a copy of it such as EMA weights) → PyTorch-layout entries. */
export function exportTorchTensors(state: Iterable<[string, tf.Tensor]>): Map<string, NamedTensor> {
  const out = new Map<string, NamedTensor>();
  for (const [name, v] of state) {
    const t = toTorchLayout(name, v);
    out.set(name, { dtype: 'F32', shape: t.shape, data: t.dataSync() as Float32Array });
    t.dispose();
    if (name.endsWith('.running_mean')) {
      out.set(name.slice(0, -'running_mean'.length) + 'num_batches_tracked', { dtype: 'I64', shape: [], data: new BigInt64Array(1) });
    }
  }
  return out;
}

/**
 * Loads PyTorch-layout tensors into a module. Names must match the module's state exactly (PyTorch's
 * num_batches_tracked counters aside); a missing, extra or mis-shaped tensor is an InputError naming `source`.
 */
export function importTorchState(module: Module, tensors: Map<string, NamedTensor>, source: string): void {
  const state = module.stateDict();
  const given = [...tensors.keys()].filter((k) => !k.endsWith('.num_batches_tracked'));
  const missing = [...state.keys()].filter((k) => !tensors.has(k));
  const unexpected = given.filter((k) => !state.has(k));
  if (missing.length || unexpected.length) {
    const list = (xs: string[]) => xs.slice(0, 5).join(', ') + (xs.length > 5 ? `, … (${xs.length} in all)` : '');
    throw new InputError(`${source}: weights do not match the architecture: missing [${list(missing)}], unexpected [${list(unexpected)}]`);
  }
  const converted = new Map<string, tf.Tensor>();
  try {
    for (const [name, v] of state) {
      const t = tensors.get(name)!;
      if (t.data instanceof BigInt64Array) throw new InputError(`${source}: tensor ${name} is ${t.dtype}, expected a float tensor`);
      const torchShape = v.rank === 4 ? [v.shape[3], v.shape[2], v.shape[0], v.shape[1]] : v.rank === 2 && name.endsWith('.weight') ? [v.shape[1], v.shape[0]] : v.shape;
      if (t.shape.join(',') !== torchShape.join(',')) {
        throw new InputError(`${source}: tensor ${name} has shape [${t.shape}] but the architecture expects [${torchShape}] (PyTorch layout)`);
      }
      const raw = tf.tensor(t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as ArrayLike<number>), t.shape, 'float32');
      converted.set(name, fromTorchLayout(name, raw));
      raw.dispose();
    }
    module.loadStateDict(converted);
  } finally {
    for (const t of converted.values()) t.dispose();
  }
}

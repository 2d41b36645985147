// The formula weights of fixtures/make_inception_fixtures.py (see its docstring): every tensor of the full-size FID
// Inception-v3 computed from its state-dict name, identically in Python and here, so that 95 MB of real weights
// need not be stored.
import * as tf from '@tensorflow/tfjs-core';
import type { FIDInceptionV3 } from '../../src/models/inception.js';
import { fromTorchLayout } from '../../src/models/torch.js';

// ---- the fixture's formula (see the docstring of fixtures/make_inception_fixtures.py) ----

function fnv1a32(name: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(name, 'utf8')) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

/** v(i) in [-1, 1) for i in [0, n), then `map` (in float64) and one rounding to float32. */
export function formula(name: string, n: number, map: (v: number) => number): Float32Array {
  const h = fnv1a32(name);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let u = (Math.imul(i, 0x9e3779b1) + h) >>> 0;
    u = (u ^ (u >>> 16)) >>> 0;
    u = Math.imul(u, 0x85ebca6b) >>> 0;
    u = (u ^ (u >>> 13)) >>> 0;
    u = Math.imul(u, 0xc2b2ae35) >>> 0;
    u = (u ^ (u >>> 16)) >>> 0;
    out[i] = map((u / 4294967296) * 2 - 1);
  }
  return out;
}

/** The state-dict tensor `name` in PyTorch layout ([O, I, kh, kw] convs, [out, in] fc). */
export function formulaTensor(name: string, torchShape: number[]): tf.Tensor {
  const n = torchShape.reduce((a, b) => a * b, 1);
  let map: (v: number) => number;
  if (name.endsWith('conv.weight')) {
    const fanIn = n / torchShape[0];
    map = (v) => Math.sqrt(6 / fanIn) * v;
  } else if (name.endsWith('bn.weight')) map = (v) => 1 + 0.2 * v;
  else if (name.endsWith('bn.running_var')) map = (v) => 1 + 0.5 * v;
  else if (/(bn\.bias|bn\.running_mean|fc\.bias)$/.test(name)) map = (v) => 0.1 * v;
  else if (name === 'fc.weight') map = (v) => Math.sqrt(3 / torchShape[1]) * v;
  else throw new Error(`no formula for ${name}`);
  return tf.tensor(formula(name, n, map), torchShape);
}

/** This model's HWIO / [in, out] shape back to PyTorch's layout. */
export function torchShape(name: string, shape: number[]): number[] {
  if (shape.length === 4) return [shape[3], shape[2], shape[0], shape[1]];
  if (name === 'fc.weight') return [shape[1], shape[0]];
  return shape;
}



/** Fills `net` with the formula weights. */
export function loadFormulaWeights(net: FIDInceptionV3): void {
  const weights = new Map<string, tf.Tensor>();
  for (const [name, v] of net.stateDict()) {
    const t = formulaTensor(name, torchShape(name, v.shape));
    weights.set(name, fromTorchLayout(name, t));
    t.dispose();
  }
  net.loadStateDict(weights);
  for (const t of weights.values()) t.dispose();
}

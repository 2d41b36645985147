// Kernel micro-benchmark: ms per call of the conv gradient kernels on ResNet-20 shapes (32x32, batch 128)
// and a 3x3 stride-2 case. Compares tfjs-backend-wasm's own Conv2DBackpropInput with synthaug's
// composition, the cpu backend's Conv2DBackpropFilter (WASM has none) with synthaug's, and shows the
// forward conv2d for scale. The cpu kernel takes about a minute per call at batch 128, so that pair is
// timed at batch 8 (CPU_BATCH). Each of our results is checked against the reference it is timed beside.
// Then the other kernels synthaug replaces, each beside what runs without it: BatchMatMul with a
// transposed operand (tfjs-backend-wasm's own kernel vs an explicit transpose and the plain product),
// and a training-mode BatchNorm/GroupNorm forward and backward (tfjs ops vs the SIMD channel kernels).
// Where the oneDNN addon is built, the native fused activations beside the tfjs ops they replace (on native).
// Run: npm run build && node dist/bench/kernels.js [--fused]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { builtinWasmKernel, initBackend, registerWasmKernels, unregisterWasmKernels } from '../src/backend/index.js';
import { relErr } from '../test/helpers/compare.js';
import { createClassifier } from '../src/models/registry.js';
import { BatchNorm, GroupNorm, silu } from '../src/nn/index.js';

interface Shape { name: string; x: [number, number, number, number]; k: number; co: number; stride: number }

const CPU_BATCH = 8;

const SHAPES: Shape[] = [
  { name: 'resnet20 stage1 3x3 16→16 @32x32', x: [128, 32, 32, 16], k: 3, co: 16, stride: 1 },
  { name: 'resnet20 stage2 3x3 32→32 @16x16', x: [128, 16, 16, 32], k: 3, co: 32, stride: 1 },
  { name: 'resnet20 stage3 3x3 64→64 @8x8', x: [128, 8, 8, 64], k: 3, co: 64, stride: 1 },
  { name: '3x3 stride 2 16→32 @32x32→16x16', x: [128, 32, 32, 16], k: 3, co: 32, stride: 2 },
];

/** Median ms of `reps` calls after one warm-up; `fn` returns the output tensor (disposed here). */
function time(fn: () => tf.Tensor, reps: number): { ms: number; out: Float32Array } {
  let out = fn();
  const values = out.dataSync() as Float32Array;
  out.dispose();
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    out = fn();
    out.dataSync();
    ms.push(performance.now() - t0);
    out.dispose();
  }
  ms.sort((a, b) => a - b);
  return { ms: ms[Math.floor(ms.length / 2)], out: values };
}

function randomData(shape: number[], seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

export async function run(): Promise<void> {
  await import('@tensorflow/tfjs-backend-cpu');
  const info = await initBackend('wasm');
  const reps = Number(process.env.BENCH_REPS ?? 3);
  const rows: string[][] = [['shape', 'conv2d fwd', 'BackpropInput tfjs', 'BackpropInput ours', 'speedup', 'BackpropFilter ours',
    `Filter cpu b${CPU_BATCH}`, `Filter ours b${CPU_BATCH}`, 'speedup', 'max relErr']];
  for (const s of SHAPES) {
    const filterShape = [s.k, s.k, s.x[3], s.co];
    const conv = tf.backend_util.computeConv2DInfo(s.x, filterShape as never, s.stride, 1, 'same');
    const xv = randomData(s.x, 1);
    const wv = randomData(filterShape, 2);
    const dyv = randomData(conv.outShape, 3);
    const attrs = { strides: s.stride, pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined };
    const on = async (backend: string) => {
      await tf.setBackend(backend);
      return { x: tf.tensor4d(xv, s.x), w: tf.tensor4d(wv, filterShape as never), dy: tf.tensor4d(dyv, conv.outShape) };
    };
    const run = (k: string, inputs: object, a: object) => () => tf.engine().runKernel(k, inputs as never, a as never) as tf.Tensor;

    const w = await on('wasm');
    const fwd = time(() => tf.conv2d(w.x, w.w, s.stride, 'same'), reps);
    const inOurs = time(run('Conv2DBackpropInput', { dy: w.dy, filter: w.w }, { ...attrs, inputShape: s.x }), reps);
    const fOurs = time(run('Conv2DBackpropFilter', { x: w.x, dy: w.dy }, { ...attrs, filterShape }), reps);
    unregisterWasmKernels(); // tfjs-backend-wasm's own Conv2DBackpropInput
    const builtin = builtinWasmKernel('Conv2DBackpropInput') !== undefined;
    const inTfjs = builtin ? time(run('Conv2DBackpropInput', { dy: w.dy, filter: w.w }, { ...attrs, inputShape: s.x }), reps) : undefined;
    registerWasmKernels();
    tf.dispose([w.x, w.w, w.dy]);

    // The filter gradient pair at batch CPU_BATCH: the first images of the same data.
    const xs: [number, number, number, number] = [CPU_BATCH, ...s.x.slice(1)] as never;
    const dys: [number, number, number, number] = [CPU_BATCH, ...conv.outShape.slice(1)] as never;
    const small = async (backend: string) => {
      await tf.setBackend(backend);
      const x = tf.tensor4d(xv.subarray(0, xs.reduce((a, b) => a * b)), xs);
      const dy = tf.tensor4d(dyv.subarray(0, dys.reduce((a, b) => a * b)), dys);
      return { x, dy };
    };
    const ws = await small('wasm');
    const fOursSmall = time(run('Conv2DBackpropFilter', ws, { ...attrs, filterShape }), reps);
    tf.dispose([ws.x, ws.dy]);
    const cs = await small('cpu');
    const fCpu = time(run('Conv2DBackpropFilter', cs, { ...attrs, filterShape }), 1);
    tf.dispose([cs.x, cs.dy]);
    await tf.setBackend('wasm');

    const err = Math.max(relErr(fOursSmall.out, fCpu.out), inTfjs ? relErr(inOurs.out, inTfjs.out) : 0);
    const f = (ms: number) => ms.toFixed(1);
    rows.push([s.name, f(fwd.ms), inTfjs ? f(inTfjs.ms) : '-', f(inOurs.ms), inTfjs ? `${(inTfjs.ms / inOurs.ms).toFixed(1)}x` : '-',
      f(fOurs.ms), f(fCpu.ms), f(fOursSmall.ms), `${(fCpu.ms / fOursSmall.ms).toFixed(0)}x`, err.toExponential(1)]);
  }
  process.stdout.write(`kernel ms per call, batch 128 unless marked (median of ${reps}; cpu: 1 call); ${info.reasons.at(-1)}\n`);
  printTable(rows);
  replacedKernels(reps);
  await nativeFused(reps);
  threadSpeedup(reps);
}

function printTable(rows: string[][]): void {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) process.stdout.write(`${r.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join('  ')}\n`);
}

/** Median ms of `fn` with synthaug's WASM kernels and without them (tfjs-backend-wasm alone), and the outputs' relErr. */
function withAndWithout(fn: () => tf.Tensor, reps: number): [string, string, string, string] {
  const ours = time(fn, reps);
  unregisterWasmKernels();
  let theirs: { ms: number; out: Float32Array };
  try {
    theirs = time(fn, reps);
  } finally {
    registerWasmKernels();
  }
  return [theirs.ms.toFixed(1), ours.ms.toFixed(1), `${(theirs.ms / ours.ms).toFixed(1)}x`, relErr(ours.out, theirs.out).toExponential(1)];
}

function replacedKernels(reps: number): void {
  const rows: string[][] = [['kernel', 'tfjs-wasm ms', 'synthaug ms', 'speedup', 'relErr']];
  const matmuls = [
    { name: 'BatchMatMul [392,128]ᵀ·[392,384] (U-Net qkv dW)', a: [392, 128], b: [392, 384], tA: true, tB: false },
    { name: 'BatchMatMul [8320,192]ᵀ·[8320,768] (ViT MLP dW)', a: [8320, 192], b: [8320, 768], tA: true, tB: false },
    { name: 'BatchMatMul [32,49,32]·[32,49,32]ᵀ (scores)', a: [32, 49, 32], b: [32, 49, 32], tA: false, tB: true },
  ];
  for (const m of matmuls) {
    const a = tf.tensor(randomData(m.a, 5), m.a);
    const b = tf.tensor(randomData(m.b, 6), m.b);
    rows.push([m.name, ...withAndWithout(() => tf.matMul(a, b, m.tA, m.tB), reps)]);
    tf.dispose([a, b]);
  }
  const norms = [
    { name: 'BatchNorm fwd+bwd [128,32,32,16]', layer: new BatchNorm(16), x: [128, 32, 32, 16] },
    { name: 'GroupNorm(32) fwd+bwd [16,28,28,64]', layer: new GroupNorm(32, 64), x: [16, 28, 28, 64] },
  ];
  for (const n of norms) {
    const x = tf.tensor(randomData(n.x, 7), n.x);
    const r = tf.tensor(randomData(n.x, 8), n.x);
    const dx = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(n.layer.forward(xx, { training: true }), r)) as tf.Scalar);
    rows.push([n.name, ...withAndWithout(() => dx(x), reps)]);
    tf.dispose([x, r]);
    n.layer.dispose();
  }
  process.stdout.write(`\nother replaced kernels, ms per call (median of ${reps})\n`);
  printTable(rows);
}

/**
 * SiLU forward and backward on a U-Net activation ([64, 28, 28, 64]: the fmnist preset's first level at
 * micro-batch 64) on the native backend: the fused kernels (one pass each way) against x·σ(x) in tfjs ops
 * (a sigmoid, a multiply, and five element-wise passes backward; the arithmetic ones native too).
 */
async function nativeFused(reps: number): Promise<void> {
  try {
    await initBackend('native');
  } catch (err) {
    process.stdout.write(`\nnative fused activations: skipped (${err instanceof Error ? err.message : String(err)})\n`);
    return;
  }
  const shape = [64, 28, 28, 64];
  const x = tf.tensor(randomData(shape, 9), shape);
  const r = tf.tensor(randomData(shape, 10), shape);
  const timeWith = (f: (t: tf.Tensor) => tf.Tensor) => {
    const forward = time(() => f(x), reps);
    const backward = time(() => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t), r)) as tf.Scalar)(x), reps);
    return { forward, backward };
  };
  const ops = timeWith((t) => tf.mul(t, tf.sigmoid(t)));
  const fused = timeWith(silu);
  const row = (name: string, a: { ms: number; out: Float32Array }, b: { ms: number; out: Float32Array }) =>
    [name, a.ms.toFixed(1), b.ms.toFixed(1), `${(a.ms / b.ms).toFixed(1)}x`, relErr(b.out, a.out).toExponential(1)];
  process.stdout.write(`\nnative fused activations, ms per call (median of ${reps})\n`);
  printTable([
    ['kernel', 'tfjs ops ms', 'fused ms', 'speedup', 'relErr'],
    row(`SiLU forward [${shape}]`, ops.forward, fused.forward),
    row(`SiLU forward + backward [${shape}]`, ops.backward, fused.backward),
  ]);
  tf.dispose([x, r]);
  await initBackend('wasm');
}

/** One ResNet-20 training step (32x32, batch 128, SGD momentum): median ms of `reps` after a warm-up. */
async function resnet20Step(reps: number): Promise<{ ms: number; threads: number }> {
  const info = await initBackend('wasm');
  const model = createClassifier({ arch: 'resnet20', numClasses: 10, inputShape: [32, 32, 3] }, 1);
  const x = tf.tensor4d(randomData([128, 32, 32, 3], 4), [128, 32, 32, 3]);
  const labels = tf.oneHot(tf.tensor1d(Array.from({ length: 128 }, (_, i) => i % 10), 'int32'), 10);
  const opt = tf.train.momentum(0.1, 0.9);
  const params = model.namedParameters().map(([, v]) => v);
  const step = () => {
    const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(labels, model.forward(x, { training: true })) as tf.Scalar, params);
    opt.applyGradients(grads as Record<string, tf.Variable>);
    value.dataSync();
    tf.dispose([value, ...Object.values(grads)]);
  };
  step();
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    step();
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  return { ms: ms[Math.floor(ms.length / 2)], threads: info.threads ?? 1 };
}

/** The ResNet-20 step in a fresh process per thread count (the pool size is fixed at start-up). */
function threadSpeedup(reps: number): void {
  const results = [1, 2].map((threads) => {
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--step'], {
      env: { ...process.env, SYNTHAUG_WASM_THREADS: String(threads), BENCH_REPS: String(reps) }, encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`step with ${threads} threads failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as { ms: number; threads: number };
  });
  const [one, two] = results;
  process.stdout.write(`resnet20 training step, 32x32 batch 128 (median of ${reps}): ` +
    `${one.threads} thread ${one.ms.toFixed(0)} ms, ${two.threads} threads ${two.ms.toFixed(0)} ms, speedup ${(one.ms / two.ms).toFixed(2)}x\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--step') {
  resnet20Step(Number(process.env.BENCH_REPS ?? 3)).then((r) => process.stdout.write(JSON.stringify(r)));
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // --fused: only the native fused activations.
  (process.argv[2] === '--fused' ? nativeFused(Number(process.env.BENCH_REPS ?? 5)) : run()).catch((err) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  });
}

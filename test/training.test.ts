// Training building blocks against direct formulas: schedule, SGD/AdamW steps, label smoothing loss,
// crop/flip/mixup, label sets, the stdin replay source.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { cosineLr } from '../src/training/schedule.js';
import { AdamW, Sgd, decays } from '../src/training/optim.js';
import { softCrossEntropy } from '../src/training/loss.js';
import { cropFlip, makeBatch, sampleBeta, NO_AUGMENT } from '../src/training/augment.js';
import { LabelSet } from '../src/training/labels.js';
import { examples, replayable } from '../src/training/data.js';
import { encodePng } from '../src/images/codec.js';
import { BadInputs } from '../src/shards/bad.js';
import { detachSample } from '../src/shards/sample.js';
import { Rng } from '../src/util/rng.js';
import { InputError } from '../src/errors.js';
import type { Sample } from '../src/shards/sample.js';
import { assertClose } from './helpers/close.js';
// This file's default tolerance is 1e-6.
const close = (actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-6) => assertClose(actual, expected, tol);

before(async () => {
  await initBackend('cpu');
});

test('cosine schedule with linear warmup matches the hand formula', () => {
  const s = { baseLr: 0.1, warmupSteps: 4, totalSteps: 14 };
  close([0, 1, 2, 3].map((i) => cosineLr(s, i)), [0.025, 0.05, 0.075, 0.1]);
  assert.equal(cosineLr(s, 4), 0.1); // start of the cosine
  close([cosineLr(s, 9)], [0.05]); // half way: ½(1 + cos(π/2)) = ½
  close([cosineLr(s, 14)], [0]);
  close([cosineLr({ baseLr: 1, warmupSteps: 0, totalSteps: 3 }, 1)], [0.5 * (1 + Math.cos(Math.PI / 3))]);
  close([cosineLr({ baseLr: 1, warmupSteps: 0, totalSteps: 10, finalLr: 0.1 }, 10)], [0.1]);
});

function vars(): Array<[string, tf.Variable]> {
  return [
    ['conv.weight', tf.variable(tf.tensor2d([[1, -2], [0.5, 3]]), true, 'w_' + Math.random())],
    ['bn.bias', tf.variable(tf.tensor1d([0.2, -0.4]), true, 'b_' + Math.random())],
  ];
}

test('weight decay skips rank-1 parameters and ViT embeddings', () => {
  const [w, b] = vars();
  assert.equal(decays(w[0], w[1]), true);
  assert.equal(decays(b[0], b[1]), false);
  const pos = tf.variable(tf.zeros([1, 4, 3]));
  assert.equal(decays('pos_embed', pos), false);
  assert.equal(decays('blocks.0.attn.qkv.weight', pos), true);
});

test('SGD momentum (plain and Nesterov) with weight decay: two steps against the direct computation', () => {
  for (const nesterov of [false, true]) {
    const named = vars();
    const [w, b] = named.map(([, v]) => v);
    const opt = new Sgd(named, { momentum: 0.9, nesterov, weightDecay: 0.01 });
    const gw = [[0.1, 0.2], [-0.3, 0.4]].flat();
    const gb = [0.5, -0.6];
    // Direct: per element, g = grad + wd·p (weights only), buf = 0.9·buf + g, d = nesterov ? g + 0.9·buf : buf, p -= lr·d.
    const pw = [1, -2, 0.5, 3];
    const pb = [0.2, -0.4];
    const bw = [0, 0, 0, 0];
    const bb = [0, 0];
    for (const lr of [0.1, 0.05]) {
      const grads = { [w.name]: tf.tensor2d(gw, [2, 2]), [b.name]: tf.tensor1d(gb) };
      opt.step(grads, lr);
      for (let i = 0; i < 4; i++) {
        const g = gw[i] + 0.01 * pw[i];
        bw[i] = 0.9 * bw[i] + g;
        pw[i] -= lr * (nesterov ? g + 0.9 * bw[i] : bw[i]);
      }
      for (let i = 0; i < 2; i++) {
        const g = gb[i]; // no decay on biases
        bb[i] = 0.9 * bb[i] + g;
        pb[i] -= lr * (nesterov ? g + 0.9 * bb[i] : bb[i]);
      }
    }
    close(w.dataSync(), pw);
    close(b.dataSync(), pb);
    assert.equal(opt.steps, 2);
  }
});

test('AdamW (decoupled weight decay, bias correction): two steps against the direct computation', () => {
  const named = vars();
  const [w, b] = named.map(([, v]) => v);
  const opt = new AdamW(named, { weightDecay: 0.05 });
  const p = [1, -2, 0.5, 3, 0.2, -0.4];
  const decayed = [true, true, true, true, false, false];
  const m = new Array(6).fill(0);
  const v = new Array(6).fill(0);
  const steps = [
    { lr: 1e-2, g: [0.1, 0.2, -0.3, 0.4, 0.5, -0.6] },
    { lr: 5e-3, g: [-0.2, 0.1, 0.3, 0.0, 0.25, 0.6] },
  ];
  steps.forEach(({ lr, g }, k) => {
    opt.step({ [w.name]: tf.tensor2d(g.slice(0, 4), [2, 2]), [b.name]: tf.tensor1d(g.slice(4)) }, lr);
    const t = k + 1;
    for (let i = 0; i < 6; i++) {
      if (decayed[i]) p[i] *= 1 - lr * 0.05;
      m[i] = 0.9 * m[i] + 0.1 * g[i];
      v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
      const mh = m[i] / (1 - 0.9 ** t);
      const vh = v[i] / (1 - 0.999 ** t);
      p[i] -= (lr * mh) / (Math.sqrt(vh) + 1e-8);
    }
  });
  close([...w.dataSync(), ...b.dataSync()], p, 1e-5);
});

test('optimizer state round-trips through stateDict/loadStateDict', () => {
  const a = vars();
  const opt = new AdamW(a, { weightDecay: 0.05 });
  opt.step({ [a[0][1].name]: tf.ones([2, 2]), [a[1][1].name]: tf.ones([2]) }, 0.01);
  const saved = opt.stateDict();
  assert.deepEqual([...saved.tensors.keys()].sort(), ['bn.bias.exp_avg', 'bn.bias.exp_avg_sq', 'conv.weight.exp_avg', 'conv.weight.exp_avg_sq']);
  const b = vars();
  const opt2 = new AdamW(b, { weightDecay: 0.05 });
  opt2.loadStateDict(saved);
  assert.equal(opt2.steps, 1);
  close(opt2.stateDict().tensors.get('conv.weight.exp_avg')!.data, saved.tensors.get('conv.weight.exp_avg')!.data);
});

test('label smoothing cross-entropy equals the direct formula', () => {
  const logits = [
    [2, 0.5, -1],
    [0, 0, 3],
  ];
  const labels = [0, 1];
  const eps = 0.1;
  const K = 3;
  const targets = labels.map((y) => [0, 1, 2].map((k) => (k === y ? 1 - eps : 0) + eps / K));
  const loss = softCrossEntropy(tf.tensor2d(logits), tf.tensor2d(targets)).dataSync()[0];
  // Direct: mean over rows of −Σ_k q_k log softmax(z)_k.
  let expected = 0;
  logits.forEach((z, r) => {
    const lse = Math.log(z.reduce((s, v) => s + Math.exp(v), 0));
    expected += -targets[r].reduce((s, q, k) => s + q * (z[k] - lse), 0);
  });
  expected /= 2;
  close([loss], [expected]);
  // ε = 0 is plain cross-entropy.
  const plain = softCrossEntropy(tf.tensor2d([[1, 2]]), tf.tensor2d([[0, 1]])).dataSync()[0];
  close([plain], [-Math.log(Math.exp(2) / (Math.exp(1) + Math.exp(2)))]);
});

test('crop with zero and reflect padding, and flip, move pixels as written', () => {
  // 3×3 gray image 1..9.
  const img = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  // Shift by dy = 1, dx = −1: out[y, x] = in[y + 1, x − 1].
  assert.deepEqual([...cropFlip(img, 3, 3, 1, 1, -1, false, 'zero')], [0, 4, 5, 0, 7, 8, 0, 0, 0]);
  // Reflect: in[3, ·] → in[1, ·]; in[·, −1] → in[·, 1].
  assert.deepEqual([...cropFlip(img, 3, 3, 1, 1, -1, false, 'reflect')], [5, 4, 5, 8, 7, 8, 5, 4, 5]);
  assert.deepEqual([...cropFlip(img, 3, 3, 1, 0, 0, true, 'zero')], [3, 2, 1, 6, 5, 4, 9, 8, 7]);
  // Two channels stay together.
  assert.deepEqual([...cropFlip(Uint8Array.from([1, 10, 2, 20]), 1, 2, 2, 0, 0, true, 'zero')], [2, 20, 1, 10]);
});

test('makeBatch normalises, smooths labels and mixes with a seeded λ', () => {
  const images = [Uint8Array.from([0, 255]), Uint8Array.from([255, 255])];
  const norm = { mean: [0.5], std: [0.25] };
  const plain = makeBatch(images, [0, 1], [1, 2, 1], 2, norm, { ...NO_AUGMENT, labelSmoothing: 0.2 }, new Rng(1));
  close(plain.x, [-2, 2, 2, 2]);
  close(plain.targets, [0.9, 0.1, 0.1, 0.9]);
  const rngA = new Rng(7);
  const mixed = makeBatch(images, [0, 1], [1, 2, 1], 2, norm, { ...NO_AUGMENT, mixup: 0.4 }, rngA);
  // Re-draw λ and π with the same seed and check the mix by hand.
  const rngB = new Rng(7);
  const lam = sampleBeta(0.4, 0.4, rngB);
  const perm = rngB.shuffle([0, 1]);
  const x0 = [-2, 2, 2, 2];
  const t0 = [1, 0, 0, 1];
  const ex = [0, 1].flatMap((b) => [0, 1].map((i) => lam * x0[b * 2 + i] + (1 - lam) * x0[perm[b] * 2 + i]));
  const et = [0, 1].flatMap((b) => [0, 1].map((k) => lam * t0[b * 2 + k] + (1 - lam) * t0[perm[b] * 2 + k]));
  close(mixed.x, ex);
  close(mixed.targets, et);
});

test('Beta(α, α) samples have mean ½ and variance 1 / (4(2α + 1))', () => {
  const rng = new Rng(3);
  for (const a of [0.2, 1, 2]) {
    const xs = Array.from({ length: 20000 }, () => sampleBeta(a, a, rng));
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    const variance = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / xs.length;
    assert.ok(Math.abs(mean - 0.5) < 0.01, `α=${a}: mean ${mean}`);
    assert.ok(Math.abs(variance - 1 / (4 * (2 * a + 1))) < 0.01, `α=${a}: variance ${variance}`);
    assert.ok(xs.every((x) => x >= 0 && x <= 1));
  }
});

function labelled(key: string, cls: number | string, name?: string, shard = 'train.tar'): Sample {
  const fields: Record<string, Buffer> = { cls: Buffer.from(String(cls)) };
  if (name !== undefined) fields.json = Buffer.from(JSON.stringify({ class: name }));
  return { key, fields, shard };
}

test('label set: two names for one index, or one name under two indices, is an InputError naming shard and key', () => {
  const set = new LabelSet('the training data');
  assert.equal(set.observe(labelled('a', 0, 'shirt')), 0);
  assert.equal(set.observe(labelled('b', 2, 'boot')), 2);
  assert.equal(set.observe(labelled('c', 1)), 1); // unnamed: fine
  assert.equal(set.numClasses, 3);
  assert.throws(
    () => set.observe(labelled('test/17', 0, 'boot', 'test.tar')),
    (err: unknown) => err instanceof InputError && /shard test\.tar, sample test\/17/.test(err.message) && /named "boot" here but "shirt"/.test(err.message),
  );
  assert.throws(
    () => set.observe(labelled('test/18', 1, 'shirt', 'test.tar')),
    (err: unknown) => err instanceof InputError && err.key === 'test/18' && /"shirt" has label 1 here but label 0/.test(err.message),
  );
  set.fix(3);
  assert.throws(() => set.observe(labelled('x', 3, 'bag')), /outside the 3 classes/);
  assert.throws(() => set.observe(labelled('y', 'two')), (err: unknown) => err instanceof InputError && err.key === 'y');
  assert.deepEqual(set.classNames(), ['shirt', '', 'boot']);
  assert.deepEqual(set.displayNames(), ['shirt', '1', 'boot']);
});

test('label sets from a classifier directory check the data against the saved names', () => {
  const saved = LabelSet.fromNames(['shirt', '', 'boot'], 'classifier clf/');
  assert.equal(saved.observe(labelled('a', 1, 'dress')), 1); // an unnamed class takes a name
  assert.throws(() => saved.observe(labelled('b', 2, 'shirt')), /in classifier clf\//);
  const other = new LabelSet('the real test data');
  other.observe(labelled('c', 0, 'boot'));
  assert.throws(() => saved.checkCompatible(other), InputError);
});

test('replayable: stdin is recorded on the first pass and replayed on later ones', async () => {
  const items = Array.from({ length: 5 }, (_, i) => labelled(`k${i}`, i));
  let reads = 0;
  async function* live() {
    for (const s of items) {
      reads++;
      yield s;
    }
  }
  const source = replayable(live(), 1 << 20);
  // A first reader stops early (a peek); the next replays and continues from the live stream.
  for await (const s of source()) if (s.key === 'k1') break;
  const keys = async () => {
    const out: string[] = [];
    for await (const s of source()) out.push(s.key);
    return out;
  };
  assert.deepEqual(await keys(), ['k0', 'k1', 'k2', 'k3', 'k4']);
  assert.deepEqual(await keys(), ['k0', 'k1', 'k2', 'k3', 'k4']);
  assert.equal(reads, 5);
  // Over the limit: the first pass streams through, a second pass fails clearly.
  const small = replayable(live(), 10);
  const first: string[] = [];
  for await (const s of small()) first.push(s.key);
  assert.equal(first.length, 5);
  await assert.rejects(async () => {
    for await (const _ of small()) void _;
  }, /can be read only once/);
});

test('examples(): every shuffled image keeps its own label, also when the shuffle holds detached copies', async () => {
  // Samples as a file source gives them: fields are small views into one large read chunk, which the
  // shuffle buffer copies out (detachSample), so what comes out of it is not the object that went in.
  const n = 40;
  const chunk = Buffer.alloc(256 * 1024);
  let offset = 0;
  const view = (data: Buffer) => {
    data.copy(chunk, offset);
    const v = chunk.subarray(offset, offset + data.length);
    offset += data.length;
    return v;
  };
  const samples: Sample[] = Array.from({ length: n }, (_, i) => {
    const cls = i % 10;
    // A 4×4 gray image whose pixels say its class.
    const png = encodePng(new Uint8Array(16).fill(20 * cls + 5), { width: 4, height: 4, channels: 1 });
    return { key: `s${i}`, fields: { cls: view(Buffer.from(String(cls))), png: view(png) } };
  });
  assert.notEqual(detachSample(samples[0]), samples[0], 'the test samples are detached by the shuffle');
  const labels = new LabelSet();
  const seen: number[] = [];
  for await (const e of examples(async function* () { yield* samples; }, {
    spec: { height: 4, width: 4, channels: 1, resize: 'none' },
    labels,
    bad: new BadInputs({}),
    shuffleBuffer: 8,
    seed: 3,
    prefetch: 2,
  })) {
    assert.equal(e.label, (e.image[0] - 5) / 20, `sample at position ${e.position}: its label is its image's class`);
    seen.push(e.position);
  }
  assert.deepEqual(seen, Array.from({ length: n }, (_, i) => i));
});

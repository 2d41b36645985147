// The three Inception input paths against direct per-pixel formulas: pytorch-fid's (F.interpolate bilinear,
// align_corners=False: source = (dest + 0.5)·in/out − 0.5, clamped at 0) and TF1's resize_bilinear
// (source = dest·in/out), each with its value scaling; clean-fid's is Pillow's bicubic (checked against Pillow
// in fid-parity.test.ts) followed by clipping and (x − 128)/128.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../src/backend/index.js';
import { prepareInceptionInput } from '../src/models/inception-extractor.js';
import { resizeBicubicAntialias } from '../src/images/resample.js';
import { Rng } from '../src/util/rng.js';

before(async () => {
  await initBackend('cpu');
});

const S = 299;

function bilinear(img: Uint8Array, h: number, w: number, source: (dst: number, inSize: number) => number, value: (v: number) => number): Float64Array {
  const out = new Float64Array(S * S * 3);
  const coord = (dst: number, inSize: number) => {
    const s = source(dst, inSize);
    const i0 = Math.min(Math.floor(s), inSize - 1);
    return { i0, i1: Math.min(i0 + 1, inSize - 1), f: s - i0 };
  };
  for (let y = 0; y < S; y++) {
    const cy = coord(y, h);
    for (let x = 0; x < S; x++) {
      const cx = coord(x, w);
      for (let c = 0; c < 3; c++) {
        const p = (yy: number, xx: number) => value(img[(yy * w + xx) * 3 + c]);
        const top = p(cy.i0, cx.i0) * (1 - cx.f) + p(cy.i0, cx.i1) * cx.f;
        const bottom = p(cy.i1, cx.i0) * (1 - cx.f) + p(cy.i1, cx.i1) * cx.f;
        out[(y * S + x) * 3 + c] = top * (1 - cy.f) + bottom * cy.f;
      }
    }
  }
  return out;
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let e = 0;
  for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i] - b[i]));
  return e;
}

test('pytorch-fid, tf and clean input paths match their formulas', () => {
  const [h, w] = [23, 37];
  const rng = new Rng(9);
  const img = Uint8Array.from({ length: h * w * 3 }, () => rng.int(256));
  const torchLike = bilinear(img, h, w, (d, n) => Math.max(0, ((d + 0.5) * n) / S - 0.5), (v) => (v / 255) * 2 - 1);
  const tfLike = bilinear(img, h, w, (d, n) => (d * n) / S, (v) => (v - 128) / 128);
  const got = (mode: 'pytorch-fid' | 'tf' | 'clean') => {
    const t = prepareInceptionInput(img, 1, h, w, mode);
    const v = t.dataSync();
    assert.deepEqual(t.shape, [1, S, S, 3]);
    t.dispose();
    return v;
  };
  assert.ok(maxAbs(got('pytorch-fid'), torchLike) < 1e-5);
  assert.ok(maxAbs(got('tf'), tfLike) < 1e-5);
  assert.ok(maxAbs(got('pytorch-fid'), tfLike) > 1e-2, 'the two bilinear conventions differ');
  const clean = resizeBicubicAntialias(img, h, w, 3, S, S).map((v) => (Math.min(255, Math.max(0, v)) - 128) / 128);
  assert.ok(maxAbs(got('clean'), clean) < 1e-6);
  const c = got('clean');
  assert.ok(c.every((v) => v >= -1 && v <= 127 / 128));
});

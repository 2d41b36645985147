// The image codec against closed-form patterns written by PIL (fixtures/images/make_fixtures.py)
// and against slow direct formulas. Images are compared by tolerance, except our own PNG round trip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decodeImage, decodeImageAs, encodePng, luma601, type DecodeSpec } from '../src/images/codec.js';
import { InputError } from '../src/errors.js';
import { Rng } from '../src/util/rng.js';

const FIX = new URL('../../fixtures/images/', import.meta.url);
const fixture = (name: string) => readFileSync(new URL(name, FIX));
const W = 32;
const H = 24;
const rgbSpec: DecodeSpec = { width: W, height: H, channels: 3, resize: 'none' };
const graySpec: DecodeSpec = { width: W, height: H, channels: 1, resize: 'none' };

/** The RGB gradient of make_fixtures.py: R = 8x, G = 10y, B = 128. */
const gradient = (x: number, y: number) => [8 * x, 10 * y, 128];

function errors(got: Uint8Array, want: (i: number) => number): { mean: number; max: number } {
  let sum = 0;
  let max = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i] - want(i));
    sum += d;
    max = Math.max(max, d);
  }
  return { mean: sum / got.length, max };
}

const gradientAt = (i: number) => {
  const p = Math.floor(i / 3);
  return gradient(p % W, Math.floor(p / W))[i % 3];
};

test('png round trip of random pixels is exact and the png bytes are deterministic', async () => {
  const rng = new Rng(7);
  for (const channels of [1, 3] as const) {
    const pixels = Uint8Array.from({ length: 17 * 11 * channels }, () => rng.int(256));
    const shape = { width: 17, height: 11, channels };
    const png = await encodePng(pixels, shape);
    assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
    assert.ok((await encodePng(pixels, shape)).equals(png), 'same pixels give the same bytes');
    const back = await decodeImage(png, { ...shape, resize: 'none' });
    assert.deepEqual(Array.from(back), Array.from(pixels));
  }
});

test('png written by PIL decodes exactly to its formula', async () => {
  const px = await decodeImage(fixture('gradient.png'), rgbSpec);
  assert.equal(px.length, W * H * 3);
  assert.deepEqual(errors(px, gradientAt), { mean: 0, max: 0 });
  const lossless = await decodeImage(fixture('gradient-lossless.webp'), rgbSpec);
  assert.deepEqual(errors(lossless, gradientAt), { mean: 0, max: 0 });
});

test('lossy jpg and webp decode within a tolerance of the formula', async () => {
  for (const name of ['gradient.jpg', 'gradient.webp']) {
    const px = await decodeImage(fixture(name), rgbSpec);
    const e = errors(px, gradientAt);
    assert.ok(e.mean < 2.5 && e.max <= 24, `${name}: mean ${e.mean} max ${e.max}`);
  }
  const gray = await decodeImage(fixture('gradient-gray.jpg'), graySpec);
  const e = errors(gray, (i) => 4 * (i % W) + 5 * Math.floor(i / W));
  assert.ok(e.mean < 2 && e.max <= 16, `gray jpg: mean ${e.mean} max ${e.max}`);
});

test('gray input: exact as 1 channel, replicated as RGB', async () => {
  const gray = await decodeImage(fixture('gradient-gray.png'), graySpec);
  const want = (p: number) => 4 * (p % W) + 5 * Math.floor(p / W);
  assert.deepEqual(errors(gray, want), { mean: 0, max: 0 });
  const rgb = await decodeImage(fixture('gradient-gray.png'), rgbSpec);
  assert.deepEqual(errors(rgb, (i) => want(Math.floor(i / 3))), { mean: 0, max: 0 });
});

test('RGB to gray is BT.601 luma: the direct formula, and PIL convert("L") within 1', async () => {
  const gray = await decodeImage(fixture('gradient.png'), graySpec);
  for (let p = 0; p < W * H; p++) {
    const [r, g, b] = gradient(p % W, Math.floor(p / W));
    const exact = 0.299 * r + 0.587 * g + 0.114 * b;
    assert.ok(Math.abs(gray[p] - exact) <= 0.5 + 1e-9, `pixel ${p}: ${gray[p]} vs ${exact}`);
  }
  const ref = JSON.parse(fixture('luma-pil.json').toString()) as { rgb: [number, number, number][]; pil_L: number[] };
  let same = 0;
  ref.rgb.forEach(([r, g, b], i) => {
    const ours = luma601(r, g, b);
    assert.ok(Math.abs(ours - ref.pil_L[i]) <= 1, `${r},${g},${b}: ${ours} vs PIL ${ref.pil_L[i]}`);
    if (ours === ref.pil_L[i]) same++;
    const exact = 0.299 * r + 0.587 * g + 0.114 * b;
    assert.ok(Math.abs(ours - exact) <= 0.5 + 1e-9);
  });
  assert.ok(same / ref.rgb.length > 0.9, `agrees exactly with PIL on ${same}/${ref.rgb.length}`);
});

test('alpha is flattened onto black', async () => {
  // rgba.png pixels (make_fixtures.py): colour × alpha/255 is the expected result.
  const rgba = [
    [255, 0, 0, 128], [0, 255, 0, 255], [0, 0, 255, 0], [10, 20, 30, 255],
    [200, 100, 50, 64], [255, 255, 255, 255], [255, 255, 255, 0], [90, 90, 90, 192],
  ];
  const px = await decodeImage(fixture('rgba.png'), { width: 4, height: 2, channels: 3, resize: 'none' });
  const e = errors(px, (i) => (rgba[Math.floor(i / 3)][i % 3] * rgba[Math.floor(i / 3)][3]) / 255);
  assert.ok(e.max <= 1, `max error ${e.max}`);
});

/** 40x20 RGB: four 10-column stripes red, green, blue, white. */
function stripes(): Uint8Array {
  const colours = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]];
  const px = new Uint8Array(40 * 20 * 3);
  for (let y = 0; y < 20; y++) for (let x = 0; x < 40; x++) px.set(colours[Math.floor(x / 10)], (y * 40 + x) * 3);
  return px;
}

function at(px: Uint8Array, width: number, x: number, y: number): number[] {
  return Array.from(px.subarray((y * width + x) * 3, (y * width + x) * 3 + 3));
}

function near(got: number[], want: number[], tol: number, what: string): void {
  assert.ok(got.every((v, i) => Math.abs(v - want[i]) <= tol), `${what}: got ${got} want ${want}`);
}

test('resize policies on a 40x20 stripe image with known geometry', async () => {
  const png = await encodePng(stripes(), { width: 40, height: 20, channels: 3 });
  const [R, G, B, Wh, K] = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0]];

  // stretch to 20x20: each stripe becomes 5 columns wide, full height.
  const st = await decodeImage(png, { width: 20, height: 20, channels: 3, resize: 'stretch' });
  for (const y of [0, 10, 19]) {
    near(at(st, 20, 1, y), R, 8, 'stretch x1');
    near(at(st, 20, 7, y), G, 8, 'stretch x7');
    near(at(st, 20, 12, y), B, 8, 'stretch x12');
    near(at(st, 20, 18, y), Wh, 8, 'stretch x18');
  }

  // center-crop to 20x20: scale 1, columns 10..29 kept → green then blue.
  const cc = await decodeImage(png, { width: 20, height: 20, channels: 3, resize: 'center-crop' });
  for (const y of [0, 10, 19]) {
    near(at(cc, 20, 0, y), G, 8, 'crop x0');
    near(at(cc, 20, 8, y), G, 8, 'crop x8');
    near(at(cc, 20, 11, y), B, 8, 'crop x11');
    near(at(cc, 20, 19, y), B, 8, 'crop x19');
  }

  // pad to 20x20: image scaled to 20x10, rows 5..14, black bands above and below.
  const pd = await decodeImage(png, { width: 20, height: 20, channels: 3, resize: 'pad' });
  for (const y of [0, 3, 16, 19]) near(at(pd, 20, 10, y), K, 0, `pad band y${y}`);
  for (const y of [6, 10, 13]) {
    near(at(pd, 20, 1, y), R, 12, 'pad x1');
    near(at(pd, 20, 7, y), G, 12, 'pad x7');
    near(at(pd, 20, 12, y), B, 12, 'pad x12');
    near(at(pd, 20, 18, y), Wh, 12, 'pad x18');
  }

  // Every policy returns exactly the declared shape, also when enlarging.
  for (const resize of ['stretch', 'center-crop', 'pad'] as const) {
    const big = await decodeImage(png, { width: 64, height: 48, channels: 1, resize });
    assert.equal(big.length, 64 * 48, resize);
  }
});

test('resize none refuses another size, naming shard and key', async () => {
  const png = await encodePng(stripes(), { width: 40, height: 20, channels: 3 });
  await assert.rejects(
    decodeImage(png, { width: 20, height: 20, channels: 3, resize: 'none' }, { shard: 'in.tar', key: 'k1' }),
    (err: unknown) => err instanceof InputError && /shard in\.tar, sample k1: image is 40x20/.test(err.message),
  );
});

test('bytes that do not decode give an InputError naming shard and key', async () => {
  for (const name of ['garbage.png', 'truncated.png']) {
    await assert.rejects(decodeImage(fixture(name), rgbSpec, { shard: 'data-000001.tar', key: 'cat/0042' }), (err: unknown) => {
      assert.ok(err instanceof InputError, `${name}: ${String(err)}`);
      assert.equal(err.key, 'cat/0042');
      assert.match(err.message, /^shard data-000001\.tar, sample cat\/0042: image does not decode/);
      return true;
    });
  }
});

test('decodeImageAs keeps the stored size and gray/colour unless told otherwise', async () => {
  const gray = await decodeImageAs(fixture('gradient-gray.png'), { resize: 'none' });
  assert.deepEqual(gray.shape, { width: W, height: H, channels: 1 });
  const rgba = await decodeImageAs(fixture('rgba.png'), { resize: 'none' });
  assert.deepEqual(rgba.shape, { width: 4, height: 2, channels: 3 });
  const sized = await decodeImageAs(fixture('gradient.jpg'), { width: 10, height: 10, channels: 1, resize: 'pad' });
  assert.deepEqual(sized.shape, { width: 10, height: 10, channels: 1 });
  assert.equal(sized.pixels.length, 100);
});

test('16-bit png is scaled to 8 bits', async () => {
  const px = await decodeImage(fixture('gray16.png'), { width: 4, height: 1, channels: 1, resize: 'none' });
  assert.deepEqual(Array.from(px), [0, 100, 255, 128]);
});

// The raster canvas: which pixels each primitive sets, checked against hand-written expected sets
// and geometric facts (connectivity, distance to the segment), and the PNG decoded back by sharp.
// The contact sheet's layout: labels clear of the images.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Canvas, glyph, textSize, GLYPH_HEIGHT, GLYPH_WIDTH } from '../src/images/draw.js';
import { decodeImage } from '../src/images/codec.js';
import { contactSheet } from '../src/images/contact-sheet.js';

/** The set of "x,y" whose pixel differs from the background value `bg` (gray canvas). */
function inked(c: Canvas, bg = 255): Set<string> {
  const out = new Set<string>();
  for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++) if (c.get(x, y)[0] !== bg) out.add(`${x},${y}`);
  return out;
}

/** "x,y" for every '#' of an ASCII picture whose top-left character is at (x0, y0). */
function picture(rows: string[], x0 = 0, y0 = 0): Set<string> {
  const out = new Set<string>();
  rows.forEach((row, y) => [...row].forEach((ch, x) => ch === '#' && out.add(`${x0 + x},${y0 + y}`)));
  return out;
}

test('a new canvas is the background everywhere; colours convert between gray and RGB', () => {
  const rgb = new Canvas(4, 3, 3, [10, 20, 30]);
  assert.deepEqual(rgb.shape, { width: 4, height: 3, channels: 3 });
  for (let i = 0; i < rgb.pixels.length; i += 3) assert.deepEqual(Array.from(rgb.pixels.subarray(i, i + 3)), [10, 20, 30]);
  rgb.set(1, 2, 77);
  assert.deepEqual(rgb.get(1, 2), [77, 77, 77]);
  const gray = new Canvas(2, 2, 1, 0);
  gray.set(0, 0, [255, 0, 0]); // BT.601: round(0.299 · 255) = 76
  assert.deepEqual(gray.get(0, 0), [76]);
  gray.set(5, 5, 9); // off the canvas: ignored
  assert.deepEqual(Array.from(gray.pixels), [76, 0, 0, 0]);
  assert.throws(() => new Canvas(0, 3), RangeError);
});

test('fillRect sets exactly its rectangle, clipped to the canvas', () => {
  const c = new Canvas(8, 6, 1);
  c.fillRect(2, 1, 3, 2, 0);
  assert.deepEqual(inked(c), picture(['###', '###'], 2, 1));
  const d = new Canvas(5, 5, 1);
  d.fillRect(-2, 3, 4, 10, 0);
  assert.deepEqual(inked(d), picture(['##', '##'], 0, 3));
});

test('thin lines: horizontal, vertical and 45° lines are exactly their pixels', () => {
  const c = new Canvas(12, 12, 1);
  c.line(2, 5, 9, 5, 0);
  assert.deepEqual(inked(c), picture(['########'], 2, 5));
  const v = new Canvas(12, 12, 1);
  v.line(3, 9, 3, 4, 0);
  assert.deepEqual(inked(v), picture(['#', '#', '#', '#', '#', '#'], 3, 4));
  const d = new Canvas(6, 6, 1);
  d.line(1, 1, 4, 4, 0);
  assert.deepEqual(inked(d), picture(['#   ', ' #  ', '  # ', '   #'], 1, 1));
});

test('a thick line covers the pixels within half its thickness of the segment, round caps included', () => {
  const c = new Canvas(16, 12, 1);
  c.line(3, 5, 10, 5, 0, 3);
  // Rows 4–6 from x = 3 to 10, plus the caps: centres at distance 1 (x = 2, 11; rows 4–6 since
  // √2 ≤ 1.5) and none at distance 2.
  assert.deepEqual(inked(c), picture(['##########', '##########', '##########'], 2, 4));
});

test('a one-pixel line at any slope is 8-connected and stays within half a pixel of the segment', () => {
  for (const [x0, y0, x1, y1] of [[0, 0, 19, 7], [2, 13, 18, 1], [5, 0, 8, 19], [19, 19, 0, 11]]) {
    const c = new Canvas(20, 20, 1);
    c.line(x0, y0, x1, y1, 0);
    const pts = [...inked(c)].map((s) => s.split(',').map(Number));
    // Every pixel is within 0.5 of the infinite line through the end points (the slow formula).
    const norm = Math.hypot(x1 - x0, y1 - y0);
    for (const [x, y] of pts) assert.ok(Math.abs((x1 - x0) * (y0 - y) - (x0 - x) * (y1 - y0)) / norm <= 0.5 + 1e-9, `${x},${y}`);
    // Along the major axis every step has a pixel, and consecutive ones touch (8-connected).
    const major = Math.abs(x1 - x0) >= Math.abs(y1 - y0) ? 0 : 1;
    const [a, b] = major === 0 ? [Math.min(x0, x1), Math.max(x0, x1)] : [Math.min(y0, y1), Math.max(y0, y1)];
    let prev: number[] | undefined;
    for (let s = a; s <= b; s++) {
      const here = pts.filter((p) => p[major] === s).map((p) => p[1 - major]);
      assert.ok(here.length > 0, `no pixel at ${major === 0 ? 'x' : 'y'} = ${s}`);
      if (prev) assert.ok(here.some((m) => prev!.some((n) => Math.abs(m - n) <= 1)), `gap after ${s - 1}`);
      prev = here;
    }
  }
});

test('discs are the pixels within the radius', () => {
  const c = new Canvas(9, 9, 1);
  c.fillDisc(4, 4, 2, 0);
  assert.deepEqual(inked(c), picture(['  #  ', ' ### ', '#####', ' ### ', '  #  '], 2, 2));
});

test('text draws the glyph bitmaps at integer scales, to the right or upwards', () => {
  const c = new Canvas(20, 12, 1);
  c.text(1, 2, 'T1', 0);
  const T = ['#####', '  #  ', '  #  ', '  #  ', '  #  ', '  #  ', '  #  '];
  const one = ['  #  ', ' ##  ', '  #  ', '  #  ', '  #  ', '  #  ', ' ### '];
  assert.deepEqual(inked(c), new Set([...picture(T, 1, 2), ...picture(one, 7, 2)]));

  const big = new Canvas(12, 16, 1);
  big.text(0, 0, 'L', 0, 2);
  const L2 = Array.from({ length: 14 }, (_, y) => (y >= 12 ? '##########' : '##'));
  assert.deepEqual(inked(big), picture(L2));

  // 'up': turned 90° anticlockwise, so the glyph's top row becomes its left column, read bottom to top.
  const up = new Canvas(10, 10, 1);
  up.text(1, 8, 'L', 0, 1, 'up');
  assert.deepEqual(inked(up), picture(['      #', '      #', '      #', '      #', '#######'], 1, 3));
});

test('text size, unknown characters and the font table', () => {
  assert.deepEqual(textSize('abc', 2), { width: (3 * 6 - 1) * 2, height: 7 * 2 });
  assert.deepEqual(textSize('ab\nc'), { width: 11, height: 15 });
  for (let code = 32; code < 127; code++) {
    const rows = glyph(String.fromCharCode(code));
    assert.equal(rows.length, GLYPH_HEIGHT, `glyph ${code}`);
    assert.ok(rows.every((r) => r >= 0 && r < 1 << GLYPH_WIDTH));
    if (code > 32) assert.ok(rows.some((r) => r !== 0), `glyph ${String.fromCharCode(code)} is blank`);
  }
  const c = new Canvas(6, 8, 1);
  c.text(0, 0, '\u2603', 0); // no glyph: a hollow box
  assert.deepEqual(inked(c), picture(['#####', '#   #', '#   #', '#   #', '#   #', '#   #', '#####']));
});

test('drawImage pastes, scales with nearest neighbour and converts channels', () => {
  const c = new Canvas(6, 5, 3, 255);
  c.drawImage(1, 1, Uint8Array.of(0, 50, 100, 150), { width: 2, height: 2, channels: 1 }, 2);
  assert.deepEqual(c.get(1, 1), [0, 0, 0]);
  assert.deepEqual(c.get(2, 2), [0, 0, 0]);
  assert.deepEqual(c.get(3, 1), [50, 50, 50]);
  assert.deepEqual(c.get(4, 4), [150, 150, 150]);
  assert.deepEqual(c.get(5, 4), [255, 255, 255]);
  assert.deepEqual(c.get(0, 0), [255, 255, 255]);
  const g = new Canvas(2, 1, 1, 0);
  g.drawImage(1, 0, Uint8Array.of(0, 0, 255), { width: 1, height: 1, channels: 3 }); // round(0.114 · 255) = 29
  assert.deepEqual(Array.from(g.pixels), [0, 29]);
});

test('toPng decodes to the canvas pixels', async () => {
  const c = new Canvas(23, 17, 3, 240);
  c.line(0, 16, 22, 0, [200, 30, 30], 2);
  c.text(2, 2, 'FID 3.5', [0, 0, 128]);
  const back = await decodeImage(c.toPng(), { ...c.shape, resize: 'none' });
  assert.deepEqual(Array.from(back), Array.from(c.pixels));
});

test('contact sheet: the longest label ends at least a glyph width (at its scale) before the first image', () => {
  // Black labels, mid-gray images on white: in each row's band, the last black column and the first gray one.
  const gray = new Uint8Array(28 * 28).fill(128);
  const labels = ['tshirt-top', 'bag', 'ankle-boot'];
  const sheet = contactSheet(labels.map((label) => ({ label, images: [gray, gray] })), { width: 28, height: 28, channels: 1 });
  const cell = 28 * 2 + 2; // 28×28 at scale 2, 2-pixel gaps; labels at text scale 2 (cells ≥ 4 glyph heights)
  labels.forEach((label, r) => {
    let lastInk = -1;
    let firstImage = sheet.width;
    for (let y = 2 + r * cell; y < 2 + r * cell + 56; y++) {
      for (let x = 0; x < sheet.width; x++) {
        const v = sheet.get(x, y)[0];
        if (v === 0) lastInk = Math.max(lastInk, x);
        if (v === 128) firstImage = Math.min(firstImage, x);
      }
    }
    assert.ok(lastInk > 0, `${label}: label drawn`);
    if (label === 'tshirt-top') assert.ok(firstImage - lastInk - 1 >= GLYPH_WIDTH * 2, `${label}: ${firstImage - lastInk - 1} pixels of white before the image`);
    assert.equal(firstImage, 2 + textSize('tshirt-top', 2).width + GLYPH_WIDTH * 2, `${label}: the column fits the longest label`);
  });
});

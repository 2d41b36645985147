// Line charts: tick choice against hand-computed 1-2-5 steps, and the drawn PNG checked pixel by pixel
// where the data must (and must not) be.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lineChart, niceTicks, panels, formatTick, PALETTE } from '../src/report/chart.js';
import { decodeImage } from '../src/images/codec.js';
import { Canvas } from '../src/images/draw.js';

test('nice ticks step by 1, 2 or 5 × 10^k and cover the range', () => {
  assert.deepEqual(niceTicks(0, 1), [0, 0.5, 1]); // rough step 0.25 → 0.5
  assert.deepEqual(niceTicks(0, 5), [0, 2, 4, 6]); // rough 1.25 → 2
  assert.deepEqual(niceTicks(17.2, 31.4), [15, 20, 25, 30, 35]); // rough 3.55 → 5
  assert.deepEqual(niceTicks(0.1, 0.3), [0.1, 0.15, 0.2, 0.25, 0.3]); // rough 0.05 → 0.05
  assert.deepEqual(niceTicks(3, 3), [2.6, 2.8, 3, 3.2, 3.4]); // widened by 10%: rough 0.15 → 0.2
  assert.deepEqual(niceTicks(-12, 7), [-15, -10, -5, 0, 5, 10]);
  assert.equal(formatTick(0.30000000000000004), '0.3');
  assert.equal(formatTick(2.5e-5), '2.5e-5');
});

/** Whether some pixel within `r` of (x, y) has exactly this colour. */
function near(c: Canvas, x: number, y: number, color: readonly number[], r = 1): boolean {
  for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) if (c.get(x + dx, y + dy).every((v, i) => v === color[i])) return true;
  return false;
}

test('a chart puts markers, lines and error bars where the data is, and nothing elsewhere', async () => {
  const up = { name: 'rising', points: [0, 1, 2, 5, 10].map((x) => ({ x, y: 70 + 2 * x, err: 1.5 })) };
  const flat = { name: 'flat', points: [0, 10].map((x) => ({ x, y: 75 })) };
  const { canvas, layout } = lineChart({ title: 'top-1', xLabel: 'synthetic / real', yLabel: 'accuracy', series: [up, flat], width: 400, height: 300 });
  assert.deepEqual(canvas.shape, { width: 400, height: 300, channels: 3 });
  const png = canvas.toPng();
  const back = await decodeImage(png, { ...canvas.shape, resize: 'none' });
  assert.deepEqual(Array.from(back), Array.from(canvas.pixels));

  // y range: the nice ticks over [68.5, 91.5] (data ± error bars): rough step 23 / 4 = 5.75 → 10.
  assert.deepEqual(layout.yRange, [60, 100]);
  assert.deepEqual(layout.xRange, [0, 10]);
  const [left, top, right, bottom] = layout.plot;
  for (const p of up.points) {
    const [px, py] = layout.toPixel(p.x, p.y);
    assert.ok(px > left && px < right && py > top && py < bottom, `point ${p.x} inside the plot`);
    assert.ok(near(canvas, px, py, PALETTE[0], 0), `marker of ${p.x}`);
    // The error bar's caps, err above and below.
    const [, hi] = layout.toPixel(p.x, p.y + p.err);
    const [, lo] = layout.toPixel(p.x, p.y - p.err);
    assert.ok(hi < py && lo > py);
    assert.ok(near(canvas, px + 3, hi, PALETTE[0], 0) && near(canvas, px - 3, lo, PALETTE[0], 0), `error bar of ${p.x}`);
  }
  // Higher y is higher on the image, proportionally: 2 units of y per unit of x on a linear axis.
  const [x0, y0] = layout.toPixel(0, 70);
  const [x10, y10] = layout.toPixel(10, 90);
  const [x5, y5] = layout.toPixel(5, 80);
  assert.ok(Math.abs(x5 - (x0 + x10) / 2) <= 1 && Math.abs(y5 - (y0 + y10) / 2) <= 1);
  // The second series is a horizontal line in the second colour at y = 75, across the plot.
  const [, yFlat] = layout.toPixel(0, 75);
  for (let x = layout.toPixel(0, 75)[0]; x <= layout.toPixel(10, 75)[0]; x += 7) assert.ok(near(canvas, x, yFlat, PALETTE[1]), `flat line at x=${x}`);
  // Far from both series (top-left region of the plot at y ≈ 93 and x ≈ 1) there is no series colour.
  const [ex, ey] = layout.toPixel(1, 93);
  for (let dy = -3; dy <= 3; dy++) {
    for (let dx = -3; dx <= 3; dx++) {
      const v = canvas.get(ex + dx, ey + dy);
      assert.ok(!PALETTE.slice(0, 2).some((c) => c.every((u, i) => u === v[i])), `series colour at an empty place ${ex + dx},${ey + dy}`);
    }
  }
  // The legend (right of the plot) holds both colours.
  const legend = (color: readonly number[]) => {
    for (let y = top; y < bottom; y++) for (let x = right + 1; x < canvas.width; x++) if (near(canvas, x, y, color, 0)) return true;
    return false;
  };
  assert.ok(legend(PALETTE[0]) && legend(PALETTE[1]));
});

test('charts without data or with one x value still draw', () => {
  const empty = lineChart({ title: 'FID', xLabel: 'w', yLabel: 'FID', series: [] });
  assert.equal(empty.canvas.width, 480);
  const one = lineChart({ title: 'FID', xLabel: 'w', yLabel: 'FID', series: [{ name: 'a', points: [{ x: 1.5, y: 3 }] }] });
  assert.deepEqual(one.layout.xRange, [0.5, 2.5]);
  const [px, py] = one.layout.toPixel(1.5, 3);
  assert.ok(near(one.canvas, px, py, PALETTE[0], 0));
});

test('panels place charts side by side', () => {
  const a = new Canvas(10, 8, 3, [255, 0, 0]);
  const b = new Canvas(6, 5, 3, [0, 0, 255]);
  const p = panels([a, b]);
  assert.deepEqual(p.shape, { width: 20, height: 8, channels: 3 });
  assert.deepEqual(p.get(9, 7), [255, 0, 0]);
  assert.deepEqual(p.get(10, 0), [0, 0, 255]);
  assert.deepEqual(p.get(15, 4), [0, 0, 255]);
  assert.deepEqual(p.get(16, 4), [255, 255, 255]);
  assert.deepEqual(p.get(10, 5), [255, 255, 255]);
  assert.equal(panels([a, b, a], 2).height, 16);
});

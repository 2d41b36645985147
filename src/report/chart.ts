// Line charts drawn on the raster canvas: axes with "nice" ticks, gridlines, a title and axis labels, one
// polyline with markers per series, optional vertical error bars (± err), and a legend in the right margin.
// Several charts sit side by side with `panels`. Everything is deterministic, so the same data gives the
// same PNG bytes.
import { Canvas, textSize } from '../images/draw.js';

export interface Point {
  x: number;
  y: number;
  /** Half-length of the error bar (e.g. one standard deviation); absent or 0: no bar. */
  err?: number;
}

export interface Series {
  name: string;
  points: Point[];
}

export interface LineChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Tick positions and labels on x; default: nice numbers over the data. */
  xTicks?: { value: number; label: string }[];
  width?: number;
  height?: number;
}

/** Where a chart put its plot area and which data ranges map onto it (for tests and overlays). */
export interface ChartLayout {
  /** The plot area in pixels: [left, top, right, bottom], inclusive. */
  plot: [number, number, number, number];
  xRange: [number, number];
  yRange: [number, number];
  /** The pixel of a data point. */
  toPixel: (x: number, y: number) => [number, number];
}

/** Okabe & Ito's colour-blind-safe palette (2008), black last. */
export const PALETTE: readonly (readonly [number, number, number])[] = [
  [0, 114, 178],
  [213, 94, 0],
  [0, 158, 115],
  [204, 121, 167],
  [230, 159, 0],
  [86, 180, 233],
  [0, 0, 0],
];

const BACKGROUND = 255;
const INK = 0;
const GRID = 225;
const TICK = 4;
const PAD = 10;
const MARKER_RADIUS = 3;
const ERROR_CAP = 4;

/**
 * About `count` evenly spaced round tick values (steps of 1, 2 or 5 × 10^k, after Heckbert, "Nice numbers
 * for graph labels", Graphics Gems 1990) covering [lo, hi]; the range is widened to the outer ticks.
 */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(Number.isFinite(lo) && Number.isFinite(hi))) throw new RangeError(`niceTicks: range [${lo}, ${hi}] is not finite`);
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const rough = (hi - lo) / Math.max(1, count - 1);
  const mag = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= rough) ?? 10 * mag;
  const first = Math.floor(lo / step + 1e-9);
  const last = Math.ceil(hi / step - 1e-9);
  const ticks: number[] = [];
  // Rounded to the step's decimals, so that 0.1 + 0.2 prints as 0.3.
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  for (let i = first; i <= last; i++) ticks.push(Number((i * step).toFixed(decimals)));
  return ticks;
}

/** A tick label: no trailing zeros, at most 4 significant decimals. */
export function formatTick(v: number): string {
  if (v === 0) return '0';
  const s = Math.abs(v) >= 1e5 || Math.abs(v) < 1e-3 ? v.toExponential(1) : String(Number(v.toPrecision(6)));
  return s;
}

/** Draw a line chart on a new canvas; returns the canvas and where the data went. */
export function lineChart(spec: LineChartSpec): { canvas: Canvas; layout: ChartLayout } {
  const width = spec.width ?? 480;
  const height = spec.height ?? 320;
  const canvas = new Canvas(width, height, 3, BACKGROUND);
  const points = spec.series.flatMap((s) => s.points);
  if (points.length === 0) {
    canvas.text(PAD, PAD, spec.title, INK, 2);
    canvas.text(PAD, PAD + 24, 'no data', INK);
    return { canvas, layout: { plot: [0, 0, 0, 0], xRange: [0, 1], yRange: [0, 1], toPixel: () => [0, 0] } };
  }

  const xs = points.map((p) => p.x).concat((spec.xTicks ?? []).map((t) => t.value));
  const yTicks = niceTicks(Math.min(...points.map((p) => p.y - (p.err ?? 0))), Math.max(...points.map((p) => p.y + (p.err ?? 0))));
  // x spans the data (and any given ticks) exactly; default ticks are the nice values inside it.
  const xRange: [number, number] = [Math.min(...xs), Math.max(...xs)];
  if (xRange[0] === xRange[1]) {
    xRange[0] -= 1;
    xRange[1] += 1;
  }
  const xTicks =
    spec.xTicks ??
    niceTicks(xRange[0], xRange[1])
      .filter((v) => v >= xRange[0] - 1e-9 && v <= xRange[1] + 1e-9)
      .map((v) => ({ value: v, label: formatTick(v) }));
  const yRange: [number, number] = [yTicks[0], yTicks[yTicks.length - 1]];
  const yLabels = yTicks.map(formatTick);

  // Margins: title on top; rotated y label and tick labels on the left; x tick labels and x label below;
  // the legend on the right.
  const legendWidth = Math.max(...spec.series.map((s) => textSize(s.name).width)) + 30;
  const left = PAD + 8 + 6 + Math.max(...yLabels.map((l) => textSize(l).width)) + TICK + 2;
  const top = PAD + 14 + PAD;
  const right = width - PAD - legendWidth - PAD;
  const bottom = height - PAD - 8 - 6 - 8 - TICK - 2;
  if (right - left < 40 || bottom - top < 40) throw new RangeError(`lineChart: ${width}x${height} leaves no room for the plot`);
  // Data inset by a few pixels from the frame, so that markers on the range's edge stay inside.
  const inset = MARKER_RADIUS + 2;
  const toPixel = (x: number, y: number): [number, number] => [
    Math.round(left + inset + ((x - xRange[0]) / (xRange[1] - xRange[0])) * (right - left - 2 * inset)),
    Math.round(bottom - inset - ((y - yRange[0]) / (yRange[1] - yRange[0])) * (bottom - top - 2 * inset)),
  ];

  // Gridlines and ticks.
  yTicks.forEach((v, i) => {
    const [, py] = toPixel(xRange[0], v);
    canvas.line(left + 1, py, right - 1, py, GRID);
    canvas.line(left - TICK, py, left, py, INK);
    const label = yLabels[i];
    canvas.text(left - TICK - 2 - textSize(label).width, py - 3, label, INK);
  });
  for (const t of xTicks) {
    const [px] = toPixel(t.value, yRange[0]);
    canvas.line(px, top + 1, px, bottom - 1, GRID);
    canvas.line(px, bottom, px, bottom + TICK, INK);
    canvas.text(px - Math.floor(textSize(t.label).width / 2), bottom + TICK + 2, t.label, INK);
  }
  // Frame.
  canvas.line(left, top, left, bottom, INK);
  canvas.line(left, bottom, right, bottom, INK);
  canvas.line(left, top, right, top, INK);
  canvas.line(right, top, right, bottom, INK);

  // Title and axis labels.
  canvas.text(Math.max(PAD, Math.floor((left + right) / 2 - textSize(spec.title, 2).width / 2)), PAD, spec.title, INK, 2);
  canvas.text(Math.floor((left + right) / 2 - textSize(spec.xLabel).width / 2), height - PAD - 7, spec.xLabel, INK);
  canvas.text(PAD, Math.floor((top + bottom) / 2 + textSize(spec.yLabel).width / 2), spec.yLabel, INK, 1, 'up');

  // Series: error bars under the line, markers on top.
  spec.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const pts = [...s.points].sort((a, b) => a.x - b.x);
    for (const p of pts) {
      if (!p.err) continue;
      const [px, hi] = toPixel(p.x, p.y + p.err);
      const [, lo] = toPixel(p.x, p.y - p.err);
      canvas.line(px, hi, px, lo, color);
      canvas.line(px - ERROR_CAP, hi, px + ERROR_CAP, hi, color);
      canvas.line(px - ERROR_CAP, lo, px + ERROR_CAP, lo, color);
    }
    for (let k = 1; k < pts.length; k++) {
      const [ax, ay] = toPixel(pts[k - 1].x, pts[k - 1].y);
      const [bx, by] = toPixel(pts[k].x, pts[k].y);
      canvas.line(ax, ay, bx, by, color, 2);
    }
    for (const p of pts) {
      const [px, py] = toPixel(p.x, p.y);
      canvas.fillDisc(px, py, MARKER_RADIUS, color);
    }
    // Legend entry: a short line with a marker, then the name.
    const ly = top + 4 + i * 14;
    const lx = right + PAD;
    canvas.line(lx, ly + 3, lx + 18, ly + 3, color, 2);
    canvas.fillDisc(lx + 9, ly + 3, MARKER_RADIUS, color);
    canvas.text(lx + 24, ly, s.name, INK);
  });

  return { canvas, layout: { plot: [left, top, right, bottom], xRange, yRange, toPixel } };
}

/** Charts side by side, `columns` to a row, on one canvas (background white). */
export function panels(charts: Canvas[], columns = charts.length): Canvas {
  if (charts.length === 0) throw new RangeError('panels: no charts');
  const rows = Math.ceil(charts.length / columns);
  const cellW = Math.max(...charts.map((c) => c.width));
  const cellH = Math.max(...charts.map((c) => c.height));
  const out = new Canvas(cellW * Math.min(columns, charts.length), cellH * rows, 3, BACKGROUND);
  charts.forEach((c, i) => out.drawImage((i % columns) * cellW, Math.floor(i / columns) * cellH, c.pixels, c.shape));
  return out;
}


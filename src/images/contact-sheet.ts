// A contact sheet of images in labelled rows (`sample --grid`: one row per class), drawn on the
// canvas of ./draw.ts: the label in the bitmap font on the left, then the row's images left to right,
// each enlarged by an integer factor so that small images (28×28) stay legible. White background.
import { Canvas, GLYPH_HEIGHT, GLYPH_WIDTH, textSize } from './draw.js';
import type { ImageShape } from './codec.js';

export interface SheetRow {
  label: string;
  /** HWC uint8 images of the sheet's shape. */
  images: Uint8Array[];
}

/** Gap between images and around the sheet, in canvas pixels. */
const GAP = 2;

/** The sheet as a canvas; `scale` enlarges every image (default: 2 for images up to 32 pixels, else 1). */
export function contactSheet(rows: readonly SheetRow[], shape: ImageShape, scale = Math.max(shape.width, shape.height) <= 32 ? 2 : 1): Canvas {
  const cellW = shape.width * scale;
  const cellH = shape.height * scale;
  const textScale = cellH >= 4 * GLYPH_HEIGHT ? 2 : 1;
  // The label column: the longest label, then one glyph's width of white before the first image.
  const labelW = GAP + Math.max(0, ...rows.map((r) => textSize(r.label, textScale).width)) + GLYPH_WIDTH * textScale;
  const columns = Math.max(1, ...rows.map((r) => r.images.length));
  const canvas = new Canvas(labelW + columns * (cellW + GAP) + GAP, rows.length * (cellH + GAP) + GAP, shape.channels === 1 ? 1 : 3, 255);
  rows.forEach((row, r) => {
    const top = GAP + r * (cellH + GAP);
    canvas.text(GAP, top + Math.floor((cellH - textSize(row.label, textScale).height) / 2), row.label, 0, textScale);
    row.images.forEach((img, c) => canvas.drawImage(labelW + c * (cellW + GAP), top, img, shape, scale));
  });
  return canvas;
}

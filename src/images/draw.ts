// A small raster canvas for figures synthaug draws itself (charts, labelled sample grids): uint8 gray
// or RGB pixels in the codec's HWC layout, filled rectangles and discs, lines of any thickness, pasted
// images, and text in a built-in 5×7 bitmap font at integer scales. PNG output goes through the codec.
//
// Coordinates are pixel indices: x to the right, y down, (0, 0) the top-left pixel. Everything drawn is
// clipped to the canvas, so callers never check bounds.
import { convertChannels, encodePng, luma601, type ImageShape } from './codec.js';

/** A gray level 0–255 (replicated on an RGB canvas) or an [r, g, b] triple (BT.601 luma on a gray canvas). */
export type Color = number | readonly [number, number, number];

/** Text runs to the right (the default) or upwards, turned 90° anticlockwise (a vertical axis title). */
export type TextDirection = 'right' | 'up';

/** Glyph cell of the built-in font, in font pixels: 5×7 glyphs, 1 column and 1 row of spacing. */
export const GLYPH_WIDTH = 5;
export const GLYPH_HEIGHT = 7;
const ADVANCE = GLYPH_WIDTH + 1;
const LINE_HEIGHT = GLYPH_HEIGHT + 1;

export class Canvas {
  /** Row-major HWC uint8 pixels.   // [H, W, C] */
  readonly pixels: Uint8Array;

  constructor(
    readonly width: number,
    readonly height: number,
    readonly channels: 1 | 3 = 3,
    background: Color = 255,
  ) {
    if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
      throw new RangeError(`Canvas: size must be positive integers, got ${width}x${height}`);
    }
    this.pixels = new Uint8Array(width * height * channels);
    this.fillRect(0, 0, width, height, background);
  }

  get shape(): ImageShape {
    return { width: this.width, height: this.height, channels: this.channels };
  }

  /** The pixel at (x, y): [v] on a gray canvas, [r, g, b] on an RGB one. */
  get(x: number, y: number): number[] {
    const i = (y * this.width + x) * this.channels;
    return Array.from(this.pixels.subarray(i, i + this.channels));
  }

  /** Set one pixel; points off the canvas (or not on the integer grid) are ignored. */
  set(x: number, y: number, color: Color): void {
    if (!(Number.isInteger(x) && Number.isInteger(y)) || x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    this.put((y * this.width + x) * this.channels, this.values(color));
  }

  /** Fill the w×h rectangle whose top-left pixel is (x, y); fractional edges round to the nearest pixel. */
  fillRect(x: number, y: number, w: number, h: number, color: Color): void {
    const x0 = Math.max(0, Math.round(x));
    const y0 = Math.max(0, Math.round(y));
    const x1 = Math.min(this.width, Math.round(x + w));
    const y1 = Math.min(this.height, Math.round(y + h));
    const v = this.values(color);
    for (let py = y0; py < y1; py++) {
      for (let px = x0; px < x1; px++) this.put((py * this.width + px) * this.channels, v);
    }
  }

  /** Fill every pixel whose centre lies within `radius` of (cx, cy). */
  fillDisc(cx: number, cy: number, radius: number, color: Color): void {
    this.fillWhere(cx - radius, cy - radius, cx + radius, cy + radius, color, (px, py) => (px - cx) ** 2 + (py - cy) ** 2 <= radius * radius + 1e-9);
  }

  /**
   * A straight line from (x0, y0) to (x1, y1), `thickness` pixels wide: every pixel whose centre lies
   * within thickness / 2 of the segment. At thickness 1 the line is 8-connected (each column or row it
   * crosses has a pixel, since the band is ≥ 1 pixel tall or wide at any slope).
   */
  line(x0: number, y0: number, x1: number, y1: number, color: Color, thickness = 1): void {
    const r = thickness / 2;
    const dx = x1 - x0;
    const dy = y1 - y0;
    const len2 = dx * dx + dy * dy;
    this.fillWhere(Math.min(x0, x1) - r, Math.min(y0, y1) - r, Math.max(x0, x1) + r, Math.max(y0, y1) + r, color, (px, py) => {
      // Distance from the pixel centre to the nearest point of the segment.
      const t = len2 === 0 ? 0 : Math.min(1, Math.max(0, ((px - x0) * dx + (py - y0) * dy) / len2));
      return (px - x0 - t * dx) ** 2 + (py - y0 - t * dy) ** 2 <= r * r + 1e-9;
    });
  }

  /**
   * Paste an HWC uint8 image with its top-left pixel at (x, y), each pixel enlarged to scale×scale
   * (nearest neighbour); a gray image on an RGB canvas is replicated, RGB on gray becomes BT.601 luma.
   */
  drawImage(x: number, y: number, image: Uint8Array, shape: ImageShape, scale = 1): void {
    if (image.length !== shape.width * shape.height * shape.channels) {
      throw new RangeError(`drawImage: ${image.length} bytes do not make a ${shape.width}x${shape.height}x${shape.channels} image`);
    }
    const src = convertChannels(image, shape.width * shape.height, shape.channels, this.channels);
    const c = this.channels;
    for (let sy = 0; sy < shape.height; sy++) {
      for (let sx = 0; sx < shape.width; sx++) {
        const v = src.subarray((sy * shape.width + sx) * c, (sy * shape.width + sx + 1) * c);
        for (let ky = 0; ky < scale; ky++) {
          const py = y + sy * scale + ky;
          if (py < 0 || py >= this.height) continue;
          for (let kx = 0; kx < scale; kx++) {
            const px = x + sx * scale + kx;
            if (px >= 0 && px < this.width) this.put((py * this.width + px) * c, v);
          }
        }
      }
    }
  }

  /**
   * Draw `text` in the built-in font, each font pixel a scale×scale block, with the top-left of the
   * first glyph cell at (x, y) (for 'up', the bottom-left: the text reads upwards from there).
   * Characters without a glyph are drawn as a hollow box. '\n' starts a new line.
   */
  text(x: number, y: number, text: string, color: Color, scale = 1, direction: TextDirection = 'right'): void {
    let line = 0;
    let col = 0;
    for (const ch of text) {
      if (ch === '\n') {
        line++;
        col = 0;
        continue;
      }
      const rows = glyph(ch);
      for (let gy = 0; gy < GLYPH_HEIGHT; gy++) {
        for (let gx = 0; gx < GLYPH_WIDTH; gx++) {
          if (!((rows[gy] >> (GLYPH_WIDTH - 1 - gx)) & 1)) continue;
          // (u, v): position along and across the text, in canvas pixels.
          const u = (col * ADVANCE + gx) * scale;
          const v = (line * LINE_HEIGHT + gy) * scale;
          if (direction === 'right') this.fillRect(x + u, y + v, scale, scale, color);
          else this.fillRect(x + v, y - u - scale, scale, scale, color);
        }
      }
      col++;
    }
  }

  /** The canvas as a deterministic PNG (codec's encoder). */
  toPng(): Buffer {
    return encodePng(this.pixels, this.shape);
  }

  private fillWhere(xa: number, ya: number, xb: number, yb: number, color: Color, inside: (px: number, py: number) => boolean): void {
    const v = this.values(color);
    const x0 = Math.max(0, Math.floor(xa));
    const y0 = Math.max(0, Math.floor(ya));
    const x1 = Math.min(this.width - 1, Math.ceil(xb));
    const y1 = Math.min(this.height - 1, Math.ceil(yb));
    for (let py = y0; py <= y1; py++) {
      for (let px = x0; px <= x1; px++) if (inside(px, py)) this.put((py * this.width + px) * this.channels, v);
    }
  }

  private values(color: Color): Uint8Array {
    if (typeof color === 'number') return new Uint8Array(this.channels).fill(color);
    return this.channels === 3 ? Uint8Array.from(color) : Uint8Array.of(luma601(color[0], color[1], color[2]));
  }

  private put(i: number, v: Uint8Array): void {
    for (let c = 0; c < v.length; c++) this.pixels[i + c] = v[c];
  }
}

/** Size in canvas pixels of `text` drawn at `scale` (along the text × across it), spacing after the last glyph excluded. */
export function textSize(text: string, scale = 1): { width: number; height: number } {
  const lines = text.split('\n');
  const longest = Math.max(...lines.map((l) => [...l].length));
  return {
    width: longest === 0 ? 0 : (longest * ADVANCE - 1) * scale,
    height: (lines.length * LINE_HEIGHT - 1) * scale,
  };
}

/**
 * The font: 5×7 glyphs for printable ASCII plus '±' and '×', drawn for this module. Each glyph is seven
 * rows top to bottom, '|'-separated, '#' an inked pixel.
 */
const FONT_ROWS: Record<string, string> = {
  ' ': '     |     |     |     |     |     |     ',
  '!': '  #  |  #  |  #  |  #  |  #  |     |  #  ',
  '"': ' # # | # # |     |     |     |     |     ',
  '#': ' # # | # # |#####| # # |#####| # # | # # ',
  $: '  #  | ####|# #  | ### |  # #|#### |  #  ',
  '%': '##   |##  #|   # |  #  | #   |#  ##|   ##',
  '&': ' ##  |#  # |# #  | #   |# # #|#  # | ## #',
  "'": '  #  |  #  |     |     |     |     |     ',
  '(': '   # |  #  | #   | #   | #   |  #  |   # ',
  ')': ' #   |  #  |   # |   # |   # |  #  | #   ',
  '*': '     |  #  |# # #| ### |# # #|  #  |     ',
  '+': '     |  #  |  #  |#####|  #  |  #  |     ',
  ',': '     |     |     |     |     |  ## |  #  ',
  '-': '     |     |     |#####|     |     |     ',
  '.': '     |     |     |     |     | ##  | ##  ',
  '/': '     |    #|   # |  #  | #   |#    |     ',
  '0': ' ### |#   #|#  ##|# # #|##  #|#   #| ### ',
  '1': '  #  | ##  |  #  |  #  |  #  |  #  | ### ',
  '2': ' ### |#   #|    #|   # |  #  | #   |#####',
  '3': '#####|   # |  #  |   # |    #|#   #| ### ',
  '4': '   # |  ## | # # |#  # |#####|   # |   # ',
  '5': '#####|#    |#### |    #|    #|#   #| ### ',
  '6': '  ## | #   |#    |#### |#   #|#   #| ### ',
  '7': '#####|    #|   # |  #  | #   | #   | #   ',
  '8': ' ### |#   #|#   #| ### |#   #|#   #| ### ',
  '9': ' ### |#   #|#   #| ####|    #|   # | ##  ',
  ':': '     | ##  | ##  |     | ##  | ##  |     ',
  ';': '     | ##  | ##  |     | ##  |  #  | #   ',
  '<': '   # |  #  | #   |#    | #   |  #  |   # ',
  '=': '     |     |#####|     |#####|     |     ',
  '>': ' #   |  #  |   # |    #|   # |  #  | #   ',
  '?': ' ### |#   #|    #|   # |  #  |     |  #  ',
  '@': ' ### |#   #|    #| ## #|# # #|# # #| ### ',
  A: ' ### |#   #|#   #|#####|#   #|#   #|#   #',
  B: '#### |#   #|#   #|#### |#   #|#   #|#### ',
  C: ' ### |#   #|#    |#    |#    |#   #| ### ',
  D: '###  |#  # |#   #|#   #|#   #|#  # |###  ',
  E: '#####|#    |#    |#### |#    |#    |#####',
  F: '#####|#    |#    |#### |#    |#    |#    ',
  G: ' ### |#   #|#    |# ###|#   #|#   #| ####',
  H: '#   #|#   #|#   #|#####|#   #|#   #|#   #',
  I: ' ### |  #  |  #  |  #  |  #  |  #  | ### ',
  J: '  ###|   # |   # |   # |   # |#  # | ##  ',
  K: '#   #|#  # |# #  |##   |# #  |#  # |#   #',
  L: '#    |#    |#    |#    |#    |#    |#####',
  M: '#   #|## ##|# # #|# # #|#   #|#   #|#   #',
  N: '#   #|#   #|##  #|# # #|#  ##|#   #|#   #',
  O: ' ### |#   #|#   #|#   #|#   #|#   #| ### ',
  P: '#### |#   #|#   #|#### |#    |#    |#    ',
  Q: ' ### |#   #|#   #|#   #|# # #|#  # | ## #',
  R: '#### |#   #|#   #|#### |# #  |#  # |#   #',
  S: ' ####|#    |#    | ### |    #|    #|#### ',
  T: '#####|  #  |  #  |  #  |  #  |  #  |  #  ',
  U: '#   #|#   #|#   #|#   #|#   #|#   #| ### ',
  V: '#   #|#   #|#   #|#   #|#   #| # # |  #  ',
  W: '#   #|#   #|#   #|# # #|# # #|# # #| # # ',
  X: '#   #|#   #| # # |  #  | # # |#   #|#   #',
  Y: '#   #|#   #| # # |  #  |  #  |  #  |  #  ',
  Z: '#####|    #|   # |  #  | #   |#    |#####',
  '[': ' ### | #   | #   | #   | #   | #   | ### ',
  '\\': '     |#    | #   |  #  |   # |    #|     ',
  ']': ' ### |   # |   # |   # |   # |   # | ### ',
  '^': '  #  | # # |#   #|     |     |     |     ',
  _: '     |     |     |     |     |     |#####',
  '`': ' #   |  #  |     |     |     |     |     ',
  a: '     |     | ### |    #| ####|#   #| ####',
  b: '#    |#    |# ## |##  #|#   #|#   #|#### ',
  c: '     |     | ### |#    |#    |#   #| ### ',
  d: '    #|    #| ## #|#  ##|#   #|#   #| ####',
  e: '     |     | ### |#   #|#####|#    | ### ',
  f: '  ## | #  #| #   |###  | #   | #   | #   ',
  g: '     | ####|#   #|#   #| ####|    #| ### ',
  h: '#    |#    |# ## |##  #|#   #|#   #|#   #',
  i: '  #  |     | ##  |  #  |  #  |  #  | ### ',
  j: '   # |     |  ## |   # |   # |#  # | ##  ',
  k: '#    |#    |#  # |# #  |##   |# #  |#  # ',
  l: ' ##  |  #  |  #  |  #  |  #  |  #  | ### ',
  m: '     |     |## # |# # #|# # #|#   #|#   #',
  n: '     |     |# ## |##  #|#   #|#   #|#   #',
  o: '     |     | ### |#   #|#   #|#   #| ### ',
  p: '     |     |#### |#   #|#### |#    |#    ',
  q: '     |     | ## #|#  ##| ####|    #|    #',
  r: '     |     |# ## |##  #|#    |#    |#    ',
  s: '     |     | ####|#    | ### |    #|#### ',
  t: ' #   | #   |###  | #   | #   | #  #|  ## ',
  u: '     |     |#   #|#   #|#   #|#  ##| ## #',
  v: '     |     |#   #|#   #|#   #| # # |  #  ',
  w: '     |     |#   #|#   #|# # #|# # #| # # ',
  x: '     |     |#   #| # # |  #  | # # |#   #',
  y: '     |     |#   #|#   #| ####|    #| ### ',
  z: '     |     |#####|   # |  #  | #   |#####',
  '{': '   # |  #  |  #  | #   |  #  |  #  |   # ',
  '|': '  #  |  #  |  #  |  #  |  #  |  #  |  #  ',
  '}': ' #   |  #  |  #  |   # |  #  |  #  | #   ',
  '~': '     |     | #   |# # #|   # |     |     ',
  '±': '  #  |  #  |#####|  #  |  #  |     |#####',
  '×': '     |#   #| # # |  #  | # # |#   #|     ',
};

/** Drawn for characters the font lacks. */
const MISSING = '#####|#   #|#   #|#   #|#   #|#   #|#####';

/** Each glyph as seven row bitmasks, bit 4 the leftmost column. */
const FONT = new Map<string, number[]>(Object.entries(FONT_ROWS).map(([ch, rows]) => [ch, parseGlyph(rows)]));
const MISSING_GLYPH = parseGlyph(MISSING);

function parseGlyph(rows: string): number[] {
  return rows.split('|').map((row) => [...row].reduce((bits, c) => (bits << 1) | (c === '#' ? 1 : 0), 0));
}

/** The glyph rows of one character (the hollow box if the font lacks it). */
export function glyph(ch: string): readonly number[] {
  return FONT.get(ch) ?? MISSING_GLYPH;
}

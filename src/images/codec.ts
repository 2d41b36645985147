// The image codec: the one module in synthaug that touches sharp. Decodes png/jpg/webp (anything
// libvips reads) into HWC uint8 pixels of a declared shape, and encodes pixels as deterministic PNG
// (written directly with node:zlib).
//
// Conventions (docs/design.md, Images and tensors):
// - Pixels are row-major HWC uint8: index (y * width + x) * channels + c.   // [H, W, C]
// - Alpha is flattened onto BLACK (out = colour × alpha), matching the black background of
//   Fashion-MNIST-style data; the output never has an alpha channel.
// - RGB → gray uses the ITU-R BT.601 luma weights Y = 0.299 R + 0.587 G + 0.114 B, computed in exact
//   integer arithmetic on the 8-bit sRGB values (no linearisation) and rounded half up;
//   gray → RGB replicates the value into the three channels.
// - Resampling uses sharp's default Lanczos-3 kernel. EXIF orientation is not applied: pixels are
//   taken as stored, as PIL / torchvision's ImageFolder do.
import type Sharp from 'sharp';
import { crc32, deflateSync } from 'node:zlib';
import { InputError, type InputLocation } from '../errors.js';

let sharpModule: Promise<typeof Sharp> | undefined;

/** sharp (libvips), loaded on the first decode, so that commands that only move tar bytes or encode PNG start without it. */
function loadSharp(): Promise<typeof Sharp> {
  sharpModule ??= import('sharp').then(({ default: sharp }) => {
    // Keep memory bounded in long streams: libvips' operation cache only helps repeated identical work.
    sharp.cache(false);
    return sharp;
  });
  return sharpModule;
}

/** How an image of another size is brought to the declared size. */
export type ResizePolicy = 'none' | 'stretch' | 'center-crop' | 'pad';
export const RESIZE_POLICIES: readonly ResizePolicy[] = ['none', 'stretch', 'center-crop', 'pad'];

export interface ImageShape {
  width: number;
  height: number;
  channels: 1 | 3;
}

export interface DecodeSpec extends ImageShape {
  /**
   * none: the image must already have this size (else InputError);
   * stretch: scale each axis independently to the size (aspect ratio not kept);
   * center-crop: scale so the image covers the size, keeping the aspect ratio, then crop the centre;
   * pad: scale so the image fits inside the size, keeping the aspect ratio, centre it on black.
   */
  resize: ResizePolicy;
}

const FIT: Record<Exclude<ResizePolicy, 'none'>, 'fill' | 'cover' | 'contain'> = {
  stretch: 'fill',
  'center-crop': 'cover',
  pad: 'contain',
};

const BLACK = { r: 0, g: 0, b: 0, alpha: 1 };

/** Width, height and channel count as stored in the image header, or an InputError. */
export async function probeImage(bytes: Buffer, where: InputLocation = {}): Promise<{ width: number; height: number; channels: number; format: string }> {
  const sharp = await loadSharp();
  try {
    const meta = await sharp(bytes, { failOn: 'error' }).metadata();
    if (!meta.width || !meta.height) throw new Error('no image size in header');
    return { width: meta.width, height: meta.height, channels: meta.channels ?? 0, format: meta.format ?? 'unknown' };
  } catch (err) {
    throw new InputError(`image does not decode: ${(err as Error).message}`, where);
  }
}

/**
 * Decode an encoded image into HWC uint8 pixels of exactly `spec`'s shape.   // [H, W, C]
 * An image that does not decode, or (with resize 'none') has another size, is an InputError at `where`.
 */
export async function decodeImage(bytes: Buffer, spec: DecodeSpec, where: InputLocation = {}): Promise<Uint8Array> {
  const { width, height, channels } = spec;
  const header = await probeImage(bytes, where);
  if (spec.resize === 'none' && (header.width !== width || header.height !== height)) {
    throw new InputError(
      `image is ${header.width}x${header.height} but ${width}x${height} was declared (choose a --resize policy to convert)`,
      where,
    );
  }
  const sharp = await loadSharp();
  let data: Buffer;
  let got: number;
  try {
    let pipeline = sharp(bytes, { failOn: 'error' }).flatten({ background: BLACK }).toColourspace('srgb');
    if (spec.resize !== 'none' && (header.width !== width || header.height !== height)) {
      pipeline = pipeline.resize(width, height, { fit: FIT[spec.resize], position: 'centre', background: BLACK });
    }
    const out = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (out.info.width !== width || out.info.height !== height) {
      throw new Error(`decoder returned ${out.info.width}x${out.info.height}, expected ${width}x${height}`);
    }
    data = out.data;
    got = out.info.channels;
  } catch (err) {
    throw new InputError(`image does not decode: ${(err as Error).message}`, where);
  }
  return convertChannels(data, width * height, got, channels);
}

/** A decode request where size and channels may be left to the image: absent means "as stored". */
export interface PartialDecodeSpec {
  width?: number;
  height?: number;
  /** 1 or 3; absent keeps the image's own (gray or gray+alpha → 1, anything else → 3). */
  channels?: 1 | 3;
  resize: ResizePolicy;
}

/**
 * decodeImage with the shape completed from the image header: a missing width/height keeps the
 * stored size, missing channels keep gray as gray and colour as RGB. Returns the pixels and shape.
 */
export async function decodeImageAs(bytes: Buffer, spec: PartialDecodeSpec, where: InputLocation = {}): Promise<{ pixels: Uint8Array; shape: ImageShape }> {
  const header = await probeImage(bytes, where);
  const shape: ImageShape = {
    width: spec.width ?? header.width,
    height: spec.height ?? header.height,
    channels: spec.channels ?? (header.channels <= 2 ? 1 : 3),
  };
  return { pixels: await decodeImage(bytes, { ...shape, resize: spec.resize }, where), shape };
}

/** [N, from] uint8 → [N, to] uint8; drops any alpha band, BT.601 luma for RGB → gray. */
export function convertChannels(src: Uint8Array, pixels: number, from: number, to: 1 | 3): Uint8Array {
  const colour = from >= 3; // 1 or 2 bands: gray (+alpha); 3 or 4: RGB (+alpha)
  if ((from === 1 && to === 1) || (from === 3 && to === 3)) return new Uint8Array(src.buffer, src.byteOffset, pixels * to);
  const out = new Uint8Array(pixels * to);
  for (let i = 0; i < pixels; i++) {
    const s = i * from;
    if (to === 3) {
      const r = src[s];
      const g = colour ? src[s + 1] : r;
      const b = colour ? src[s + 2] : r;
      out[i * 3] = r;
      out[i * 3 + 1] = g;
      out[i * 3 + 2] = b;
    } else {
      out[i] = colour ? luma601(src[s], src[s + 1], src[s + 2]) : src[s];
    }
  }
  return out;
}

/** ITU-R BT.601 luma of 8-bit R, G, B, in integers: round(0.299 R + 0.587 G + 0.114 B), halves up. */
export function luma601(r: number, g: number, b: number): number {
  return Math.floor((299 * r + 587 * g + 114 * b + 500) / 1000);
}

/**
 * Encode HWC uint8 pixels as PNG (8-bit gray or RGB, non-interlaced). Deterministic: every row uses
 * filter type 0 (None), the IDAT is one zlib stream at level 9, and there are no ancillary chunks
 * (no metadata, no timestamps), so the same pixels give the same bytes. Written directly with
 * node:zlib (PNG spec, ISO/IEC 15948): for small images this is ~10x faster than a sharp pipeline.
 */
export function encodePng(pixels: Uint8Array, shape: ImageShape): Buffer {
  const { width, height, channels } = shape;
  if (pixels.length !== width * height * channels) {
    throw new RangeError(`encodePng: ${pixels.length} bytes do not make a ${width}x${height}x${channels} image`);
  }
  const stride = width * channels;
  const raw = Buffer.alloc(height * (stride + 1)); // each row: filter byte 0, then the row  // [H, 1 + W*C]
  for (let y = 0; y < height; y++) raw.set(pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = channels === 1 ? 0 : 2; // colour type: gray / truecolour
  // bytes 10..12: compression 0 (deflate), filter method 0, interlace 0 (none)
  return Buffer.concat([
    PNG_SIGNATURE,
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(raw, { level: 9 })),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** length, type, data, CRC-32 over type and data. */
function pngChunk(type: string, data: Buffer): Buffer {
  const chunk = Buffer.alloc(12 + data.length);
  chunk.writeUInt32BE(data.length, 0);
  chunk.write(type, 4, 'latin1');
  data.copy(chunk, 8);
  chunk.writeUInt32BE(crc32(chunk.subarray(4, 8 + data.length)), 8 + data.length);
  return chunk;
}

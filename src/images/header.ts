// What an encoded image says about itself in its first bytes: the format (from the signature) and,
// for the formats synthaug decodes, the width and height (from the header), read without decoding.
// Decoders check these before any pixel memory is allocated (codec.ts), and samples are checked to
// hold the format their field names (sample.ts imageField).
//   PNG  (ISO/IEC 15948): signature, then IHDR: width at byte 16, height at 20 (big-endian u32).
//   JPEG (ITU-T T.81, B.2): markers FFxx; the first SOFn segment (C0-CF but C4, C8, CC) holds
//        height at +5 and width at +7 (big-endian u16) from the marker.
//   WebP (RFC 9649): RIFF....WEBP then 'VP8 ' (14-bit sizes at 26, 28), 'VP8L' (14-bit size-1 fields
//        after the 0x2f signature byte) or 'VP8X' (24-bit canvas size-1 at 24, 27).

/** PIL's decompression-bomb error threshold: 2 × Image.MAX_IMAGE_PIXELS (2 × 89,478,485). */
export const DEFAULT_MAX_PIXELS = 2 * 89_478_485;

/** Formats synthaug decodes, by the field names that hold them. */
export const FIELD_FORMATS: Readonly<Record<string, ImageFormat>> = { png: 'png', jpg: 'jpeg', jpeg: 'jpeg', webp: 'webp' };

export type ImageFormat = 'png' | 'jpeg' | 'webp';

export interface ImageHeader {
  /** png, jpeg, webp, another format recognised by its signature (gif, svg, tiff, ...), or 'unknown'. */
  format: string;
  /** Size from the header (png, jpeg and webp only); absent when the header is cut or malformed. */
  width?: number;
  height?: number;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Other formats libvips might read, named in error messages. */
const OTHER_SIGNATURES: [string, (b: Buffer) => boolean][] = [
  ['gif', (b) => b.toString('latin1', 0, 4) === 'GIF8'],
  ['tiff', (b) => ['II*\0', 'MM\0*'].includes(b.toString('latin1', 0, 4))],
  ['bmp', (b) => b.toString('latin1', 0, 2) === 'BM'],
  ['pdf', (b) => b.toString('latin1', 0, 5) === '%PDF-'],
  ['heif/avif', (b) => b.toString('latin1', 4, 8) === 'ftyp'],
  ['svg/xml', (b) => /^\s*</.test(b.toString('latin1', 0, 64))],
];

/** The format and size an encoded image declares. Never throws; reads only the header bytes. */
export function readImageHeader(bytes: Buffer): ImageHeader {
  if (bytes.length >= 8 && bytes.subarray(0, 8).equals(PNG_SIGNATURE)) return pngHeader(bytes);
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return jpegHeader(bytes);
  if (bytes.length >= 12 && bytes.toString('latin1', 0, 4) === 'RIFF' && bytes.toString('latin1', 8, 12) === 'WEBP') return webpHeader(bytes);
  for (const [format, matches] of OTHER_SIGNATURES) if (matches(bytes)) return { format };
  return { format: 'unknown' };
}

function sized(format: ImageFormat, width: number, height: number): ImageHeader {
  return width > 0 && height > 0 ? { format, width, height } : { format };
}

function pngHeader(b: Buffer): ImageHeader {
  if (b.length < 24 || b.toString('latin1', 12, 16) !== 'IHDR') return { format: 'png' };
  return sized('png', b.readUInt32BE(16), b.readUInt32BE(20));
}

function jpegHeader(b: Buffer): ImageHeader {
  let at = 2;
  while (at + 4 <= b.length) {
    if (b[at] !== 0xff) return { format: 'jpeg' };
    const marker = b[at + 1];
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2; // markers without a length
      continue;
    }
    if (marker === 0xda || marker === 0xd9) return { format: 'jpeg' }; // scan or end before any frame header
    const length = b.readUInt16BE(at + 2);
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (at + 9 > b.length) return { format: 'jpeg' };
      return sized('jpeg', b.readUInt16BE(at + 7), b.readUInt16BE(at + 5));
    }
    if (length < 2) return { format: 'jpeg' };
    at += 2 + length;
  }
  return { format: 'jpeg' };
}

function webpHeader(b: Buffer): ImageHeader {
  const chunk = b.toString('latin1', 12, 16);
  if (chunk === 'VP8 ' && b.length >= 30 && b[23] === 0x9d && b[24] === 0x01 && b[25] === 0x2a) {
    return sized('webp', b.readUInt16LE(26) & 0x3fff, b.readUInt16LE(28) & 0x3fff);
  }
  if (chunk === 'VP8L' && b.length >= 25 && b[20] === 0x2f) {
    const bits = b.readUInt32LE(21);
    return sized('webp', (bits & 0x3fff) + 1, ((bits >>> 14) & 0x3fff) + 1);
  }
  if (chunk === 'VP8X' && b.length >= 30) return sized('webp', b.readUIntLE(24, 3) + 1, b.readUIntLE(27, 3) + 1);
  return { format: 'webp' };
}

/**
 * Why these bytes may not be decoded, or null when they may: a format synthaug does not decode (or not
 * the one `field` names, when given), no size in the header, or more than `maxPixels` pixels.
 */
export function imageHeaderProblem(bytes: Buffer, maxPixels: number, field?: string): string | null {
  const header = readImageHeader(bytes);
  const expected = field === undefined ? undefined : FIELD_FORMATS[field];
  if (expected !== undefined && header.format !== expected) {
    return `field ${JSON.stringify(field)} holds ${header.format === 'unknown' ? 'data of no known image format' : `${header.format} data`}, not ${expected}`;
  }
  if (!(header.format in FORMAT_NAMES)) {
    return `${header.format === 'unknown' ? 'data of no known image format' : `${header.format} data`}: only png, jpeg and webp are decoded`;
  }
  if (header.width === undefined || header.height === undefined) return `the ${header.format} header gives no image size (cut or malformed)`;
  const pixels = header.width * header.height;
  if (pixels > maxPixels) {
    return `image is ${header.width}x${header.height} = ${pixels} pixels, above the limit of ${maxPixels} (--max-pixels; a decompression bomb?)`;
  }
  return null;
}

const FORMAT_NAMES: Record<ImageFormat, true> = { png: true, jpeg: true, webp: true };

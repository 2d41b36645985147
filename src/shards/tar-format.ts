// The tar header format, in one place (POSIX.1-1988 USTAR, with the GNU and POSIX.1-2001 PAX
// extensions for reading). Offsets and field widths follow POSIX `pax` "ustar Interchange Format":
//   name 0+100, mode 100+8, uid 108+8, gid 116+8, size 124+12, mtime 136+12, chksum 148+8,
//   typeflag 156, linkname 157+100, magic 257+6, version 263+2, uname 265+32, gname 297+32,
//   devmajor 329+8, devminor 337+8, prefix 345+155.

import { decodeName, encodeName, hasEscapedBytes } from './keys.js';

export const BLOCK = 512;
/** The end-of-archive marker: two zero blocks. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

/** Bytes of zero padding after `size` bytes of member data. */
export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

// ---------------------------------------------------------------------------------------------
// Reading

/** What one header block says. `type` is the typeflag character ('\0' is reported as '0'). */
export interface HeaderBlock {
  name: string;
  size: number;
  type: string;
  /** The link target of a hard or symbolic link member. */
  linkname: string;
}

/** A 512-byte block (at byte `at` of `buf`) that is all zeros (part of an end-of-archive marker, or padding). */
export function isZeroBlock(buf: Buffer, at = 0): boolean {
  for (let i = at; i < at + BLOCK; i++) if (buf[i] !== 0) return false;
  return true;
}

/**
 * Parse the header block at byte `at` of `buf` (read in place: no copy); null when the checksum does
 * not match (not a tar header, or a zero block).
 */
export function parseHeader(buf: Buffer, at = 0): HeaderBlock | null {
  const stored = parseNumber(buf, at + 148, 8);
  if (stored === null || !checksumMatches(buf, at, stored)) return null;
  const size = parseNumber(buf, at + 124, 12);
  if (size === null) return null;
  const type = buf[at + 156] === 0 ? '0' : String.fromCharCode(buf[at + 156]);
  let name = cString(buf, at, 100);
  // POSIX ustar ("ustar\0") splits long paths into prefix/name; old GNU ("ustar  \0") uses those
  // bytes for other things (atime, ctime), so the prefix only counts for the POSIX magic.
  if (buf[at + 345] !== 0 && buf.toString('latin1', at + 257, at + 263) === 'ustar\0') {
    name = `${cString(buf, at + 345, 155)}/${name}`;
  }
  return { name, size, type, linkname: cString(buf, at + 157, 100) };
}

/** Sum of the header bytes at `at` with the chksum field (148..156) counted as eight spaces. */
export function headerSum(block: Uint8Array, at = 0): number {
  const start = block.byteOffset + at;
  if ((start & 3) === 0) return wordSum(block.buffer, start >>> 2);
  let sum = 8 * 0x20;
  for (let i = at; i < at + 148; i++) sum += block[i];
  for (let i = at + 156; i < at + BLOCK; i++) sum += block[i];
  return sum;
}

/** The last buffer headerSum read as 32-bit words (headers come one chunk after another). */
let wordsOf: ArrayBufferLike | undefined;
let words: Uint32Array<ArrayBufferLike> = new Uint32Array(0);

/**
 * headerSum of the 4-byte-aligned block at word `first` of `buffer`, four bytes at a time: the bytes of
 * each word are added in two 16-bit lanes (128 words of at most 2 × 255 per lane stay below 65536).
 */
function wordSum(buffer: ArrayBufferLike, first: number): number {
  if (buffer !== wordsOf) {
    words = new Uint32Array(buffer, 0, buffer.byteLength >>> 2);
    wordsOf = buffer;
  }
  let lanes = 0;
  for (let i = first; i < first + 37; i++) {
    const w = words[i];
    lanes += (w & 0x00ff00ff) + ((w >>> 8) & 0x00ff00ff);
  }
  // Words 37 and 38 are the chksum field (bytes 148..155), counted as spaces.
  for (let i = first + 39; i < first + BLOCK / 4; i++) {
    const w = words[i];
    lanes += (w & 0x00ff00ff) + ((w >>> 8) & 0x00ff00ff);
  }
  return (lanes & 0xffff) + Math.floor(lanes / 0x10000) + 8 * 0x20;
}

function checksumMatches(buf: Buffer, at: number, stored: number): boolean {
  if (stored === headerSum(buf, at)) return true;
  // Some old writers summed signed chars.
  let signed = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) {
    if (i >= 148 && i < 156) continue;
    const b = buf[at + i];
    signed += b > 127 ? b - 256 : b;
  }
  return stored === signed;
}

/** A NUL-terminated name field (decodeName: UTF-8, other bytes kept as escapes). */
function cString(block: Buffer, start: number, width: number): string {
  let end = start;
  const limit = start + width;
  while (end < limit && block[end] !== 0) end++;
  return decodeName(block, start, end);
}

/** An octal number field (space/NUL padded), or GNU base-256 when the high bit is set. */
function parseNumber(block: Buffer, start: number, width: number): number | null {
  if (block[start] & 0x80) {
    if (block[start] !== 0x80) return null; // negative or too large to matter here
    let n = 0;
    for (let i = start + 1; i < start + width; i++) n = n * 256 + block[i];
    return Number.isSafeInteger(n) ? n : null;
  }
  let i = start;
  const limit = start + width;
  while (i < limit && (block[i] === 0x20 || block[i] === 0)) i++;
  let n = 0;
  let digits = 0;
  for (; i < limit; i++) {
    const c = block[i];
    if (c === 0x20 || c === 0) break;
    if (c < 0x30 || c > 0x37) return null;
    n = n * 8 + (c - 0x30);
    digits++;
  }
  if (digits === 0) return 0;
  for (; i < limit; i++) if (block[i] !== 0x20 && block[i] !== 0) return null;
  return n;
}

/**
 * PAX extended header records: `"%d %s=%s\n"`, where the decimal length counts the whole record.
 * Returns the records as a map, or an error message when they are malformed.
 */
export function parsePaxRecords(data: Buffer): Map<string, string> | string {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break; // some writers pad with NULs
    const space = data.indexOf(0x20, pos);
    if (space < 0) return 'PAX record without a length';
    const len = Number(data.toString('latin1', pos, space));
    if (!Number.isInteger(len) || len <= space - pos || pos + len > data.length) return 'PAX record length out of range';
    const record = data.subarray(space + 1, pos + len);
    if (record[record.length - 1] !== 0x0a) return 'PAX record not ended by a newline';
    const eq = record.indexOf(0x3d);
    if (eq < 0) return 'PAX record without "="';
    out.set(record.toString('utf8', 0, eq), decodeName(record, eq + 1, record.length - 1));
    pos += len;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Writing: USTAR, fixed metadata (mode 0644, uid/gid 0, mtime 0, empty uname/gname) so that the
// same samples give the same bytes. A PAX header carries the path when it is not plain ASCII or
// does not fit the 100-byte name field.

const TEMPLATE = (() => {
  const b = Buffer.alloc(BLOCK);
  b.write('0000644\0', 100, 'latin1'); // mode
  b.write('0000000\0', 108, 'latin1'); // uid
  b.write('0000000\0', 116, 'latin1'); // gid
  b.write('00000000000\0', 136, 'latin1'); // mtime
  b.write('ustar\0', 257, 'latin1'); // magic (POSIX)
  b.write('00', 263, 'latin1'); // version
  b.write('0000000\0', 329, 'latin1'); // devmajor
  b.write('0000000\0', 337, 'latin1'); // devminor
  return b;
})();

/** Largest size the 11 octal digits of the size field hold (8 GiB - 1). */
const MAX_USTAR_SIZE = 0o77777777777;

/** Sum of the template's bytes (chksum counted as spaces); the variable fields are added per header. */
const TEMPLATE_SUM = headerSum(TEMPLATE);

/** Write `value` as `digits` octal digits at `at`; returns their byte sum. */
function putOctal(b: Buffer, at: number, value: number, digits: number): number {
  let sum = 0;
  for (let i = digits - 1; i >= 0; i--) {
    const c = 0x30 + (value % 8);
    b[at + i] = c;
    sum += c;
    value = Math.floor(value / 8);
  }
  return sum;
}

/**
 * Write one USTAR header block at byte `at` of `out`. `nameSum` is the byte sum of `name`, which must
 * be plain (see plainNameSum).
 */
function writeUstarBlock(out: Buffer, at: number, name: string, nameSum: number, size: number, type: '0' | 'x'): void {
  TEMPLATE.copy(out, at);
  out.write(name, at, 'latin1');
  const typeflag = type.charCodeAt(0);
  out[at + 124 + 11] = 0;
  out[at + 156] = typeflag;
  const sum = TEMPLATE_SUM + nameSum + putOctal(out, at + 124, size, 11) + typeflag;
  putOctal(out, at + 148, sum, 6);
  out[at + 154] = 0;
  out[at + 155] = 0x20;
}

/**
 * The byte sum of `name` when it fits the USTAR name field as is (at most 100 ASCII characters, no
 * NUL); -1 when it needs a PAX header.
 */
export function plainNameSum(name: string): number {
  if (name.length > 100) return -1;
  let sum = 0;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 0 || c > 0x7f) return -1;
    sum += c;
  }
  return sum;
}

/** `"%d key=value\n"` with the length counting itself; the value's bytes by encodeName. */
function paxRecord(key: string, value: string): Buffer {
  const bytes = encodeName(value);
  const body = key.length + bytes.length + 3;
  const digits = String(body).length;
  let len = body + digits;
  if (String(len).length > digits) len += 1; // counting the digits added one more digit
  return Buffer.concat([Buffer.from(`${len} ${key}=`, 'latin1'), bytes, Buffer.from('\n', 'latin1')]);
}

/**
 * The PAX records for a name: `path`, preceded by `hdrcharset=BINARY` (POSIX pax: the values are not
 * UTF-8) when the name holds bytes that are not UTF-8.
 */
function paxRecords(name: string): Buffer {
  const path = paxRecord('path', name);
  return hasEscapedBytes(name) ? Buffer.concat([paxRecord('hdrcharset', 'BINARY'), path]) : path;
}

/** The PAX header (header block, records, padding) that carries a name that is not plain. */
function paxHeader(name: string): Buffer {
  const records = paxRecords(name);
  const head = Buffer.alloc(BLOCK + records.length + padding(records.length));
  const paxName = '././@PaxHeader';
  writeUstarBlock(head, 0, paxName, plainNameSum(paxName), records.length, 'x');
  records.copy(head, BLOCK);
  return head;
}

/** The USTAR stand-in name that readers ignoring PAX see: ASCII, keeping the end of the name (its extension). */
function fallbackName(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]/gu, '_');
  return ascii.slice(Math.max(0, ascii.length - 100));
}

/** Bytes of header for a regular file member called `name`: one block, or more with a PAX header first. */
export function memberHeaderLength(name: string): number {
  if (plainNameSum(name) >= 0) return BLOCK;
  const records = paxRecords(name).length;
  return BLOCK + records + padding(records) + BLOCK;
}

/**
 * Write the header block(s) of a regular file member of `size` bytes at byte `at` of `out` (PAX first
 * when the name needs one); returns the bytes written (memberHeaderLength(name)).
 */
export function writeMemberHeader(out: Buffer, at: number, name: string, size: number): number {
  if (size > MAX_USTAR_SIZE) throw new RangeError(`member ${name} is larger than 8 GiB`);
  const nameSum = plainNameSum(name);
  if (nameSum >= 0) {
    writeUstarBlock(out, at, name, nameSum, size, '0');
    return BLOCK;
  }
  const pax = paxHeader(name);
  pax.copy(out, at);
  const fallback = fallbackName(name);
  writeUstarBlock(out, at + pax.length, fallback, plainNameSum(fallback), size, '0');
  return pax.length + BLOCK;
}

/** Header block(s) for a regular file member of `size` bytes: a PAX header first when the name needs one. */
export function encodeMemberHeader(name: string, size: number): Buffer {
  const out = Buffer.allocUnsafe(memberHeaderLength(name));
  writeMemberHeader(out, 0, name, size);
  return out;
}

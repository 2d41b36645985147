// The tar header format, in one place (POSIX.1-1988 USTAR, with the GNU and POSIX.1-2001 PAX
// extensions for reading). Offsets and field widths follow POSIX `pax` "ustar Interchange Format":
//   name 0+100, mode 100+8, uid 108+8, gid 116+8, size 124+12, mtime 136+12, chksum 148+8,
//   typeflag 156, linkname 157+100, magic 257+6, version 263+2, uname 265+32, gname 297+32,
//   devmajor 329+8, devminor 337+8, prefix 345+155.

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
}

/** A 512-byte block that is all zeros (part of an end-of-archive marker, or padding). */
export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** Parse one header block; null when the checksum does not match (not a tar header, or a zero block). */
export function parseHeader(block: Buffer): HeaderBlock | null {
  const stored = parseNumber(block, 148, 8);
  if (stored === null || !checksumMatches(block, stored)) return null;
  const size = parseNumber(block, 124, 12);
  if (size === null) return null;
  const type = block[156] === 0 ? '0' : String.fromCharCode(block[156]);
  let name = cString(block, 0, 100);
  // POSIX ustar ("ustar\0") splits long paths into prefix/name; old GNU ("ustar  \0") uses those
  // bytes for other things (atime, ctime), so the prefix only counts for the POSIX magic.
  if (block[345] !== 0 && block.toString('latin1', 257, 263) === 'ustar\0') {
    name = `${cString(block, 345, 155)}/${name}`;
  }
  return { name, size, type };
}

/** Sum of the header bytes with the chksum field (148..156) counted as eight spaces. */
export function headerSum(block: Uint8Array): number {
  let sum = 8 * 0x20;
  for (let i = 0; i < 148; i++) sum += block[i];
  for (let i = 156; i < BLOCK; i++) sum += block[i];
  return sum;
}

function checksumMatches(block: Buffer, stored: number): boolean {
  if (stored === headerSum(block)) return true;
  // Some old writers summed signed chars.
  let signed = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) {
    if (i >= 148 && i < 156) continue;
    signed += block[i] > 127 ? block[i] - 256 : block[i];
  }
  return stored === signed;
}

/** A NUL-terminated UTF-8 string field. */
function cString(block: Buffer, start: number, width: number): string {
  let end = start;
  const limit = start + width;
  while (end < limit && block[end] !== 0) end++;
  return block.toString('utf8', start, end);
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
    out.set(record.toString('utf8', 0, eq), record.toString('utf8', eq + 1, record.length - 1));
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

/** Write `value` as `digits` octal digits followed by `tail` bytes (NUL, space) at `at`; returns their byte sum. */
function putOctal(b: Buffer, at: number, value: number, digits: number, tail: number[]): number {
  let sum = 0;
  for (let i = digits - 1; i >= 0; i--) {
    const c = 0x30 + (value % 8);
    b[at + i] = c;
    sum += c;
    value = Math.floor(value / 8);
  }
  tail.forEach((t, i) => {
    b[at + digits + i] = t;
    sum += t;
  });
  return sum;
}

/** One USTAR header block. `name` must already fit in 100 bytes. */
function ustarBlock(name: Buffer, size: number, type: '0' | 'x'): Buffer {
  const b = Buffer.from(TEMPLATE);
  name.copy(b, 0);
  let sum = TEMPLATE_SUM;
  for (let i = 0; i < name.length; i++) sum += name[i];
  sum += putOctal(b, 124, size, 11, [0]);
  b[156] = type.charCodeAt(0);
  sum += b[156];
  putOctal(b, 148, sum, 6, [0, 0x20]);
  return b;
}

/** `"%d key=value\n"` with the length counting itself. */
function paxRecord(key: string, value: string): Buffer {
  const body = Buffer.byteLength(` ${key}=${value}\n`);
  const digits = String(body).length;
  let len = body + digits;
  if (String(len).length > digits) len += 1; // counting the digits added one more digit
  return Buffer.from(`${len} ${key}=${value}\n`, 'utf8');
}

/** Header block(s) for a regular file member of `size` bytes: a PAX header first when the name needs one. */
export function encodeMemberHeader(name: string, size: number): Buffer {
  if (size > MAX_USTAR_SIZE) throw new RangeError(`member ${name} is larger than 8 GiB`);
  const bytes = Buffer.from(name, 'utf8');
  if (bytes.length <= 100 && bytes.length === name.length && !name.includes('\0')) {
    return ustarBlock(bytes, size, '0');
  }
  const records = paxRecord('path', name);
  // Readers that ignore PAX see an ASCII stand-in that keeps the end of the name (its extension).
  const ascii = Buffer.from(name.replace(/[^\x20-\x7e]/g, '_'), 'latin1');
  const fallback = ascii.subarray(Math.max(0, ascii.length - 100));
  return Buffer.concat([
    ustarBlock(Buffer.from('././@PaxHeader', 'latin1'), records.length, 'x'),
    records,
    Buffer.alloc(padding(records.length)),
    ustarBlock(fallback, size, '0'),
  ]);
}

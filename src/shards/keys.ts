// The WebDataset naming rule, in one place: a tar member `dir/base.ext.more` belongs to the sample
// with key `dir/base` (path up to the first dot of the basename) and holds its field `ext.more`,
// lower-cased. Writing joins them back as `key.field`.

/** A member name split by the key rule, or null when the basename has no key part or no dot. */
export interface MemberName {
  key: string;
  field: string;
}

/**
 * `a/b.seg.PNG` → { key: 'a/b', field: 'seg.png' }. Names whose basename has no dot, or starts with
 * a dot (`README`, `.hidden`), belong to no sample and give null, as WebDataset skips them.
 */
export function splitMemberName(name: string): MemberName | null {
  const dot = keyEnd(name);
  if (dot < 0) return null;
  return { key: name.slice(0, dot), field: name.slice(dot + 1).toLowerCase() };
}

/** Where the key of a member name ends (its first basename dot), or -1 when the name belongs to no sample. */
export function keyEnd(name: string): number {
  const slash = name.lastIndexOf('/');
  const dot = name.indexOf('.', slash + 1);
  return dot <= slash + 1 ? -1 : dot; // no dot, or the basename starts with one
}

/**
 * Why a key cannot be written so that reading it back gives the same key, or null when it can. Keys
 * that an extracting tool would place outside its target directory (absolute, a `..` segment) or that
 * hold control characters (newlines, terminal escapes) are refused too, as PEP 706's tar filters do.
 */
export function keyProblem(key: string): string | null {
  if (key === '') return 'empty key';
  const base = key.slice(key.lastIndexOf('/') + 1);
  if (base === '') return 'key ends with "/"';
  if (base.includes('.')) return 'key has a dot in its last path component';
  if (key.startsWith('/')) return 'key is an absolute path';
  if (key.split('/').includes('..')) return 'key has a ".." path segment';
  if (CONTROL.test(key)) return 'key contains a control character';
  return null;
}

/** C0 and C1 control characters and DEL (NUL included). */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

// Names as bytes. Tar names are byte strings; synthaug holds them as JavaScript strings decoded from
// UTF-8 with Python's "surrogateescape" (PEP 383): each byte that is not part of valid UTF-8 becomes the
// lone surrogate U+DC00 + byte (U+DC80..U+DCFF), which no valid UTF-8 text can give. Distinct names stay
// distinct, and encodeName gives back the exact bytes (written in a PAX header marked hdrcharset=BINARY,
// which Python's tarfile reads back with the same rule).

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The name held in bytes `start..end` of `b` (UTF-8, invalid bytes escaped as U+DC80..U+DCFF). */
export function decodeName(b: Buffer, start = 0, end = b.length): string {
  let i = start;
  while (i < end && b[i] < 0x80) i++;
  if (i === end) return b.toString('latin1', start, end);
  try {
    return strictUtf8.decode(b.subarray(start, end));
  } catch {
    // Decoded sequence by sequence below.
  }
  let out = b.toString('latin1', start, i);
  while (i < end) {
    const n = utf8SequenceLength(b, i, end);
    if (n === 0) out += String.fromCharCode(0xdc00 + b[i++]);
    else {
      out += b.toString('utf8', i, i + n);
      i += n;
    }
  }
  return out;
}

/** Length of the valid UTF-8 sequence at `i` (RFC 3629, section 4), or 0 when the byte there starts none. */
function utf8SequenceLength(b: Buffer, i: number, end: number): number {
  const lead = b[i];
  if (lead < 0x80) return 1;
  const cont = (at: number, lo = 0x80, hi = 0xbf) => at < end && b[at] >= lo && b[at] <= hi;
  if (lead >= 0xc2 && lead <= 0xdf) return cont(i + 1) ? 2 : 0;
  if (lead >= 0xe0 && lead <= 0xef) {
    const [lo, hi] = lead === 0xe0 ? [0xa0, 0xbf] : lead === 0xed ? [0x80, 0x9f] : [0x80, 0xbf];
    return cont(i + 1, lo, hi) && cont(i + 2) ? 3 : 0;
  }
  if (lead >= 0xf0 && lead <= 0xf4) {
    const [lo, hi] = lead === 0xf0 ? [0x90, 0xbf] : lead === 0xf4 ? [0x80, 0x8f] : [0x80, 0xbf];
    return cont(i + 1, lo, hi) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  }
  return 0;
}

/** Whether the name holds escaped non-UTF-8 bytes (see decodeName). */
export function hasEscapedBytes(name: string): boolean {
  return ESCAPED.test(name);
}
const ESCAPED = /[\udc80-\udcff]/u; // with the u flag, only lone surrogates match

/** The bytes of a name: UTF-8, with escaped bytes (U+DC80..U+DCFF) written back as themselves. */
export function encodeName(name: string): Buffer {
  if (!hasEscapedBytes(name)) return Buffer.from(name, 'utf8');
  const parts: Buffer[] = [];
  let from = 0;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0xdc80 || c > 0xdcff) continue;
    const before = i > 0 ? name.charCodeAt(i - 1) : 0;
    if (before >= 0xd800 && before <= 0xdbff) continue; // the second half of a surrogate pair
    parts.push(Buffer.from(name.slice(from, i), 'utf8'), Buffer.of(c - 0xdc00));
    from = i + 1;
  }
  parts.push(Buffer.from(name.slice(from), 'utf8'));
  return Buffer.concat(parts);
}

/**
 * A name as shown to people (ls, messages): backslash, control characters and escaped bytes written
 * as C escapes (`\\`, `\n`, `\t`, `\x1b`, `\u0085`; a non-UTF-8 byte as `\xff`), so that nothing reaches the terminal as a control.
 */
export function printableName(name: string): string {
  if (!NEEDS_ESCAPE.test(name)) return name;
  return name.replace(NEEDS_ESCAPE_ALL, (c) => {
    const code = c.charCodeAt(0);
    if (c === '\\') return '\\\\';
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    if (c === '\r') return '\\r';
    if (code >= 0xdc00) return `\\x${(code - 0xdc00).toString(16)}`; // an escaped byte
    return code < 0x80 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
const NEEDS_ESCAPE = /[\\\u0000-\u001f\u007f-\u009f\udc80-\udcff]/u;
const NEEDS_ESCAPE_ALL = new RegExp(NEEDS_ESCAPE.source, 'gu');

/** Compare strings by their bytes (the order `sort` and tar tools use), not UTF-16 units. */
export function byteCompare(a: string, b: string): number {
  if (a === b) return 0;
  return Buffer.compare(encodeName(a), encodeName(b));
}

/** Field names in the order they are written: sorted by bytes. */
export function sortedFields(fields: Record<string, Buffer>): string[] {
  const names = Object.keys(fields);
  // ASCII names (the usual case) sort the same by UTF-16 units and by bytes; avoid the Buffer cost then.
  // Samples read from tar shards usually arrive sorted already.
  let ascii = true;
  let sorted = true;
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    for (let j = 0; ascii && j < name.length; j++) if (name.charCodeAt(j) > 0x7f) ascii = false;
    if (i > 0 && !(names[i - 1] < name)) sorted = false;
  }
  if (!ascii) return names.sort(byteCompare);
  return sorted ? names : names.sort();
}

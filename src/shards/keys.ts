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
  const slash = name.lastIndexOf('/');
  const dot = name.indexOf('.', slash + 1);
  if (dot <= slash + 1) return null; // no dot, or the basename starts with one
  return { key: name.slice(0, dot), field: name.slice(dot + 1).toLowerCase() };
}

/** Why a key cannot be written so that reading it back gives the same key, or null when it can. */
export function keyProblem(key: string): string | null {
  if (key === '') return 'empty key';
  const base = key.slice(key.lastIndexOf('/') + 1);
  if (base === '') return 'key ends with "/"';
  if (base.includes('.')) return 'key has a dot in its last path component';
  if (key.includes('\0')) return 'key contains a NUL byte';
  return null;
}

/** Compare strings by their UTF-8 bytes (the order `sort` and tar tools use), not UTF-16 units. */
export function byteCompare(a: string, b: string): number {
  if (a === b) return 0;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
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

// Source specs → a flat list of sources, as WebDataset reads shard URLs: a spec is split on '::',
// then each part is brace-expanded like the shell (`{000000..000099}`, `{a,b}`, `{0..10..2}`, nested).

/** Expand every spec: '::' lists, then braces. '-', `pipe:` commands and directories pass through (braces expanded). */
export function expandSources(specs: string[]): string[] {
  return specs.flatMap((spec) => spec.split('::').filter((part) => part !== '').flatMap(expandBraces));
}

/** Shell-style brace expansion. Unmatched braces and `{word}` without a comma or range stay literal. */
export function expandBraces(text: string): string[] {
  const open = text.indexOf('{');
  if (open < 0) return [text];
  const close = matchingBrace(text, open);
  if (close < 0) {
    // A '{' that never closes is literal; braces after it may still expand.
    return expandBraces(text.slice(open + 1)).map((rest) => text.slice(0, open + 1) + rest);
  }
  const inner = text.slice(open + 1, close);
  const parts = splitTopLevel(inner);
  const choices =
    parts.length > 1 ? parts.flatMap(expandBraces) : (range(inner) ?? expandBraces(inner).map((x) => `{${x}}`));
  const head = text.slice(0, open);
  const tails = expandBraces(text.slice(close + 1));
  const out: string[] = [];
  for (const choice of choices) for (const tail of tails) out.push(head + choice + tail);
  return out;
}

/** Index of the '}' that closes the '{' at `open`, or -1. */
function matchingBrace(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return i;
  }
  return -1;
}

/** Split on commas that are not inside nested braces. */
function splitTopLevel(inner: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i];
    if (c === '{') depth++;
    else if (c === '}') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(inner.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(inner.slice(start));
  return parts;
}

/**
 * `1..3` → 1 2 3; `000..002` → 000 001 002 (zero padding, as bash: when an end has a leading zero,
 * every number is padded to the wider end); `0..10..5` → 0 5 10; `3..1` counts down; `a..c` → a b c.
 */
function range(inner: string): string[] | null {
  const num = /^(-?\d+)\.\.(-?\d+)(?:\.\.(-?\d+))?$/.exec(inner);
  if (num) {
    const [, a, b, s] = num;
    const from = Number(a);
    const to = Number(b);
    const step = Math.abs(Number(s ?? 1)) || 1;
    const padded = [a, b].some((x) => /^-?0\d/.test(x));
    const width = padded ? Math.max(a.length, b.length) : 0;
    const out: string[] = [];
    const dir = to >= from ? 1 : -1;
    for (let n = from; dir > 0 ? n <= to : n >= to; n += dir * step) {
      const digits = String(Math.abs(n)).padStart(width - (n < 0 ? 1 : 0), '0');
      out.push(n < 0 ? `-${digits}` : digits);
    }
    return out;
  }
  const chr = /^([a-zA-Z])\.\.([a-zA-Z])(?:\.\.(-?\d+))?$/.exec(inner);
  if (chr) {
    const from = chr[1].charCodeAt(0);
    const to = chr[2].charCodeAt(0);
    const step = Math.abs(Number(chr[3] ?? 1)) || 1;
    const dir = to >= from ? 1 : -1;
    const out: string[] = [];
    for (let c = from; dir > 0 ? c <= to : c >= to; c += dir * step) out.push(String.fromCharCode(c));
    return out;
  }
  return null;
}

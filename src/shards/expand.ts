// Source specs → sources, as WebDataset reads shard URLs: a spec is split on '::', then each part is
// brace-expanded like the shell (`{000000..000099}`, `{a,b}`, `{0..10..2}`, nested). Expansion is lazy
// (a generator), so `x-{0..99999999}.tar` costs memory for one name at a time; range ends beyond 2^53
// (where numbers stop being exact) are a usage error.
import { UsageError } from '../errors.js';

/** Expand every spec: '::' lists, then braces. '-', `pipe:` commands and directories pass through (braces expanded). */
export function* iterateSources(specs: string[]): Generator<string> {
  for (const spec of specs) for (const part of spec.split('::')) if (part !== '') yield* braceExpansions(part);
}

/** iterateSources as an array (for a few specs; a long range makes a long array). */
export function expandSources(specs: string[]): string[] {
  return [...iterateSources(specs)];
}

/** braceExpansions as an array. */
export function expandBraces(text: string): string[] {
  return [...braceExpansions(text)];
}

/** Shell-style brace expansion, one name at a time. Unmatched braces and `{word}` without a comma or range stay literal. */
export function* braceExpansions(text: string): Generator<string> {
  const open = text.indexOf('{');
  if (open < 0) {
    yield text;
    return;
  }
  const close = matchingBrace(text, open);
  if (close < 0) {
    // A '{' that never closes is literal; braces after it may still expand.
    for (const rest of braceExpansions(text.slice(open + 1))) yield text.slice(0, open + 1) + rest;
    return;
  }
  const inner = text.slice(open + 1, close);
  const parts = splitTopLevel(inner);
  const head = text.slice(0, open);
  const tail = text.slice(close + 1);
  const choices = (): Iterable<string> => (parts.length > 1 ? alternatives(parts) : (range(inner) ?? literal(inner)));
  for (const choice of choices()) for (const rest of braceExpansions(tail)) yield head + choice + rest;
}

function* alternatives(parts: string[]): Generator<string> {
  for (const part of parts) yield* braceExpansions(part);
}

function* literal(inner: string): Generator<string> {
  for (const x of braceExpansions(inner)) yield `{${x}}`;
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

/** A range end or step as an exact number, or a UsageError beyond 2^53. */
function exact(text: string, spec: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new UsageError(`brace range {${spec}}: ${text} is beyond 2^53 (numbers there are not exact)`);
  return n;
}

/**
 * `1..3` → 1 2 3; `000..002` → 000 001 002 (zero padding, as bash: when an end has a leading zero,
 * every number is padded to the wider end); `0..10..5` → 0 5 10; `3..1` counts down; `a..c` → a b c.
 */
function range(inner: string): Generator<string> | null {
  const num = /^(-?\d+)\.\.(-?\d+)(?:\.\.(-?\d+))?$/.exec(inner);
  if (num) {
    const [, a, b, s] = num;
    const from = exact(a, inner);
    const to = exact(b, inner);
    const step = Math.abs(exact(s ?? '1', inner)) || 1;
    const padded = [a, b].some((x) => /^-?0\d/.test(x));
    const width = padded ? Math.max(a.length, b.length) : 0;
    return (function* () {
      const dir = to >= from ? 1 : -1;
      for (let n = from; dir > 0 ? n <= to : n >= to; n += dir * step) {
        const digits = String(Math.abs(n)).padStart(width - (n < 0 ? 1 : 0), '0');
        yield n < 0 ? `-${digits}` : digits;
      }
    })();
  }
  const chr = /^([a-zA-Z])\.\.([a-zA-Z])(?:\.\.(-?\d+))?$/.exec(inner);
  if (chr) {
    const from = chr[1].charCodeAt(0);
    const to = chr[2].charCodeAt(0);
    const step = Math.abs(exact(chr[3] ?? '1', inner)) || 1;
    return (function* () {
      const dir = to >= from ? 1 : -1;
      for (let c = from; dir > 0 ? c <= to : c >= to; c += dir * step) yield String.fromCharCode(c);
    })();
  }
  return null;
}

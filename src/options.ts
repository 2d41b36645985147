// Validation helpers shared by every command, so that each option fails with the same message shape.
import { invalidParameterError } from './errors.js';

export function positiveInt(name: string, value: unknown): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw invalidParameterError(name, 'a positive integer', value);
  return n;
}

export function nonNegativeInt(name: string, value: unknown): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw invalidParameterError(name, 'a non-negative integer', value);
  return n;
}

export function positiveNumber(name: string, value: unknown): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw invalidParameterError(name, 'a positive number', value);
  return n;
}

export function nonNegativeNumber(name: string, value: unknown): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw invalidParameterError(name, 'a non-negative number', value);
  return n;
}

export function oneOf<T extends string>(name: string, allowed: readonly T[], value: unknown): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalidParameterError(name, `one of ${allowed.join('|')}`, value);
  }
  return value as T;
}

/** "1,2.5,3" → [1, 2.5, 3]; every entry must be a non-negative finite number. */
export function numberList(name: string, value: unknown): number[] {
  const text = Array.isArray(value) ? value.join(',') : String(value ?? '');
  const parts = text.split(',').filter((s) => s.trim() !== '');
  const nums = parts.map(Number);
  if (parts.length === 0 || nums.some((n) => !Number.isFinite(n) || n < 0)) {
    throw invalidParameterError(name, 'a comma-separated list of non-negative numbers', value);
  }
  return nums;
}

/** Sizes such as 1000000, 500k, 100M, 1G (powers of 1000, as WebDataset's maxsize). */
export function byteSize(name: string, value: unknown): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)b?$/i.exec(String(value).trim());
  if (!m) throw invalidParameterError(name, 'a size such as 1000000, 500k, 100M or 1G', value);
  const scale = { '': 1, k: 1e3, m: 1e6, g: 1e9, t: 1e12 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  const n = Math.floor(Number(m[1]) * scale);
  if (n <= 0) throw invalidParameterError(name, 'a positive size', value);
  return n;
}

/** Image size in pixels: "28" → 28×28, "64x48" → width 64, height 48. */
export function imageSize(name: string, value: unknown): { width: number; height: number } {
  const m = /^(\d+)(?:x(\d+))?$/i.exec(String(value).trim());
  const width = m ? Number(m[1]) : NaN;
  const height = m ? Number(m[2] ?? m[1]) : NaN;
  if (!(width > 0 && height > 0 && width <= 16384 && height <= 16384)) throw invalidParameterError(name, 'N or WxH in pixels (e.g. 28 or 64x48)', value);
  return { width, height };
}

/** A duration such as 2h, 90m, 1h30m, 45s or 3600 (seconds) → seconds. */
export function duration(name: string, value: unknown): number {
  const text = String(value).trim().toLowerCase();
  const m = /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$/.exec(text);
  const secs = m && text !== '' ? Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0) : NaN;
  if (!(secs > 0)) throw invalidParameterError(name, 'a duration such as 2h, 90m, 1h30m or 600 (seconds)', value);
  return secs;
}

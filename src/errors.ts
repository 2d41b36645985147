// Typed errors. Only the entry point (src/cli.ts) turns them into exit codes:
// UsageError → 2, InputError and any other failure → 1.
import { readFile } from 'node:fs/promises';
import { printableName } from './shards/keys.js';

/** The command line is wrong: a bad option value, a missing argument. Exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Where in the input a problem was found: the shard (file, `-`, `pipe:...`) and the sample key. */
export interface InputLocation {
  shard?: string;
  key?: string;
}

/** The data is wrong: a truncated tar, an image that does not decode, a bad `cls`. Exit 1. */
export class InputError extends Error {
  override name = 'InputError';
  readonly shard?: string;
  readonly key?: string;
  constructor(message: string, where: InputLocation = {}) {
    const place = [where.shard && `shard ${printableName(where.shard)}`, where.key && `sample ${printableName(where.key)}`]
      .filter(Boolean)
      .join(', ');
    super(place ? `${place}: ${message}` : message);
    this.shard = where.shard;
    this.key = where.key;
  }
}

/** One message format for every invalid option: "Expected X for Y but received Z" (after sharp). */
export function invalidParameterError(name: string, expected: string, actual: unknown): UsageError {
  const shown = typeof actual === 'string' ? JSON.stringify(actual) : String(actual);
  return new UsageError(`Expected ${expected} for --${name} but received ${shown}`);
}

/** The bytes of a file the user named, or an InputError saying which file (`what`: "weights file", ...) and why. */
export async function readInputFile(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new InputError(`cannot read ${what} ${path}: ${(err as Error).message}`);
  }
}

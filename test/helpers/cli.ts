// Helpers for end-to-end tests: run the built `bin/synthaug` (or a shell pipeline) with given stdin,
// collect stdout as bytes and stderr as text; make temporary directories that are removed afterwards.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is compiled to dist/test/helpers/). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const BIN = join(ROOT, 'bin', 'synthaug');
/** The compiled shard library, for child scripts that import it by URL. */
export const SHARDS_URL = new URL('../../src/shards/index.js', import.meta.url).href;

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

export interface RunOptions {
  input?: Buffer | string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** Run a program to completion. */
export function run(command: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') }),
    );
    child.stdin.on('error', () => undefined); // the program may exit without reading its input
    child.stdin.end(options.input ?? '');
  });
}

/** Run `synthaug ARGS...` through the launcher in bin/. */
export function runCli(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return run(process.execPath, [BIN, ...args], options);
}

/** Run a bash pipeline; `$SYNTHAUG` in it names the launcher. */
export function runShell(script: string, options: RunOptions = {}): Promise<RunResult> {
  return run('bash', ['-c', script], { ...options, env: { SYNTHAUG: `${process.execPath} ${BIN}`, ...options.env } });
}

/** A fresh temporary directory, removed when the test (or suite) `t` ends. */
export function tempDir(t: { after: (fn: () => void) => void }, prefix = 'synthaug-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

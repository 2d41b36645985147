// The paper-in-miniature experiment end to end, as a user runs it: `make QUICK=1 check` over
// examples/fashion-mnist/Makefile (pack, unlabelled pretraining, fine-tuning, the guidance sweep, the
// reference classifier, FID/IS/CAS, the augmentation arms, the report), with the Makefile's own `check`
// asserting that the report has a row of numbers for every guidance weight and arm, both charts and a grid
// per weight. Then `make` again must find nothing to do: every result is on disk and up to date.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './helpers/cli.js';

const MAKEFILE_DIR = fileURLToPath(new URL('../../examples/fashion-mnist/', import.meta.url));
const hasMake = spawnSync('make', ['--version']).status === 0;

test('make QUICK=1 check runs the whole protocol and a second make has nothing left to do', { skip: hasMake ? false : 'no make on this machine', timeout: 15 * 60_000 }, (t) => {
  const out = join(tempDir(t, 'synthaug-experiment-'), 'out');
  const make = (...args: string[]) => spawnSync('make', ['-C', MAKEFILE_DIR, 'QUICK=1', `OUT=${out}`, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const first = make('-j2', 'check');
  assert.equal(first.status, 0, `make QUICK=1 check failed:\n${first.stdout.slice(-4000)}\n${first.stderr.slice(-4000)}`);
  const report = readFileSync(join(out, 'report', 'report.md'), 'utf8');
  assert.match(report, /guidance/i);
  assert.ok(existsSync(join(out, 'report', 'guidance.png')) && existsSync(join(out, 'report', 'accuracy.png')));
  // `make -q` exits 0 when a target is up to date (`check` is phony, so ask about the report itself).
  const again = make('-q', join(out, 'report', 'report.md'));
  assert.equal(again.status, 0, `the report is not up to date after a complete run:\n${again.stdout}${again.stderr}`);
});

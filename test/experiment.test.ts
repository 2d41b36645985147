// The paper-in-miniature experiment end to end, as a user runs it: `make QUICK=1 check` over
// examples/fashion-mnist/Makefile (pack, unlabelled pretraining, fine-tuning, the guidance sweep, the
// reference classifier, FID/IS/CAS, the augmentation arms, the report), with the Makefile's own `check`
// asserting that the report has a row of numbers for every guidance weight and arm, both charts and a grid
// per weight. Then `make` again must find nothing to do: every result is on disk and up to date.
// Then the generator result of the README (examples/fashion-mnist/generator.mk), tiny, the same way.
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

test('make augment-R plans the classifiers of that real count only, headline count first in the report', { skip: hasMake ? false : 'no make on this machine' }, () => {
  const plan = (...args: string[]) => {
    const r = spawnSync('make', ['-n', '-C', MAKEFILE_DIR, 'QUICK=1', 'OUT=/nonexistent/out', ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
    assert.equal(r.status, 0, r.stderr);
    return [...r.stdout.matchAll(/'>> classifier real=(\d+) synthetic=(\d+) seed=(\d+)'/g)].map((m) => m.slice(1).join('/'));
  };
  // QUICK: REALS 2 4, AMOUNTS 1 2, SEEDS 1 2.
  assert.deepEqual(plan('augment-4'), ['4/0/1', '4/0/2', '4/1/1', '4/1/2', '4/2/1', '4/2/2']);
  const all = plan('report');
  assert.equal(all.length, 12);
  assert.ok(all.slice(0, 6).every((c) => c.startsWith('2/')), `the first real count's arms come first: ${all.join(' ')}`);
});

test('generator.mk QUICK=1: the sweep and final reports with agreement, and nothing left to do after', { skip: hasMake ? false : 'no make on this machine', timeout: 10 * 60_000 }, (t) => {
  const out = join(tempDir(t, 'synthaug-generator-'), 'out');
  const make = (...args: string[]) =>
    spawnSync('make', ['-C', MAKEFILE_DIR, '-f', 'generator.mk', 'QUICK=1', `OUT=${out}`, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const first = make('-j2');
  assert.equal(first.status, 0, `make -f generator.mk QUICK=1 failed:\n${first.stdout.slice(-4000)}\n${first.stderr.slice(-4000)}`);
  const sweep = readFileSync(join(out, 'report', 'conditional', 'sweep', 'report.md'), 'utf8');
  // One row a guidance weight (0 and 2 in QUICK), each with an FID and an agreement, and a row a class.
  for (const w of ['0', '2']) assert.match(sweep, new RegExp(`^\\| ${w} \\| \\d+\\.\\d{2} \\| – \\| – \\| – \\| \\d+\\.\\d{2} \\|$`, 'm'));
  assert.match(sweep, /^\| ankle-boot \| \d+\.\d \| \d+\.\d \|$/m);
  const best = readFileSync(join(out, 'results', 'conditional', 'final', 'guidance.txt'), 'utf8').trim();
  const agreement = (w: string) => JSON.parse(readFileSync(join(out, 'results', 'conditional', 'sweep', `guidance=${w}`, 'agreement.json'), 'utf8')).top1;
  assert.equal(best, agreement('2') > agreement('0') ? '2' : '0', 'the final weight is the sweep\'s best agreement (ties: the lower)');
  const final = readFileSync(join(out, 'report', 'conditional', 'final', 'report.md'), 'utf8');
  assert.match(final, new RegExp(`^\\| ${best} \\| \\d+\\.\\d{2} \\|.* \\d+\\.\\d{2} \\|$`, 'm'));
  assert.ok(existsSync(join(out, 'results', 'conditional', 'final', `guidance=${best}`, 'grid.png')));
  const again = make('-q', join(out, 'results', 'conditional', 'final', 'done'));
  assert.equal(again.status, 0, `the final results are not up to date after a complete run:\n${again.stdout}${again.stderr}`);
});

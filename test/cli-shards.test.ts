// End-to-end: the built binary in real pipelines. Bad input of each kind through `synthaug ls`
// (exit 1 naming shard and key; --skip-bad counts), a closed downstream pipe (exit 0, quiet),
// one archive on stdout from several inputs, shard files and their cleanup through `synthaug mix`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tarBytes } from '../src/shards/index.js';
import { SHARDS_URL, runCli, runShell, tempDir } from './helpers/cli.js';
import { rawTar, sample } from './helpers/tar.js';

test('ls: per-class counts from cls and the json class name, from files and stdin', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'a.tar');
  writeFileSync(file, await tarBytes([sample('x/0', 1, 10, 'cat'), sample('x/1', 0, 10, 'dog'), sample('x/2', 1, 10, 'cat'), { key: 'x/3', fields: { png: Buffer.from('u') } }]));
  const r = await runCli(['ls', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.toString(), 'cls\tclass\tsamples\n0\tdog\t1\n1\tcat\t2\n-\t-\t1\ntotal\t\t4\n');
  const viaStdin = await runCli(['ls', '-', file, '--json'], { input: await tarBytes([sample('in/0', 0, 10, 'dog')]) });
  assert.equal(viaStdin.code, 0, viaStdin.stderr);
  assert.deepEqual(JSON.parse(viaStdin.stdout.toString()), {
    samples: 5,
    classes: [
      { cls: 0, class: 'dog', samples: 2 },
      { cls: 1, class: 'cat', samples: 2 },
      { cls: null, class: null, samples: 1 },
    ],
    fields: { cls: 4, json: 4, png: 5 },
  });
  const keys = await runCli(['ls', '--keys', file]);
  assert.equal(keys.stdout.toString(), 'x/0\tcls,json,png\nx/1\tcls,json,png\nx/2\tcls,json,png\nx/3\tpng\n');
});

test('bad input through the binary: exit 1 with shard and key named; --skip-bad skips and counts', async (t) => {
  const dir = tempDir(t);
  const whole = rawTar([
    ['a.cls', '0'],
    ['b.cls', '1'],
    ['b.png', Buffer.alloc(3000, 1)],
  ]);
  const garbage = Buffer.from('this is not a tar archive at all '.repeat(40));
  const cases: [name: string, bytes: Buffer, message: RegExp][] = [
    ['cut.tar', whole.subarray(0, 2560 + 1000), /shard .*cut\.tar, sample b: truncated tar: member "b.png" is cut after 1000 of 3000 bytes/],
    ['garbage.tar', Buffer.concat([rawTar([['a.cls', '0'], ['b.cls', '1']], false), garbage]), /shard .*garbage\.tar, sample b: not a tar header at byte 2048/],
    ['apart.tar', rawTar([['a.cls', '0'], ['b.cls', '1'], ['a.png', 'x']]), /shard .*apart\.tar, sample a: key appears again/],
    ['twice.tar', rawTar([['a.cls', '0'], ['b.cls', '1'], ['b.cls', '2']]), /shard .*twice\.tar, sample b: field "cls" appears twice/],
    ['badcls.tar', rawTar([['a.cls', '0'], ['b.cls', 'seven']]), /shard .*badcls\.tar, sample b: cls is not a non-negative integer/],
  ];
  for (const [name, bytes, message] of cases) {
    const file = join(dir, name);
    writeFileSync(file, bytes);
    const r = await runCli(['ls', file]);
    assert.equal(r.code, 1, `${name}: ${r.stderr}`);
    assert.match(r.stderr, message, name);
    assert.equal(r.stdout.length, 0, name);
    const skipped = await runCli(['ls', '--skip-bad', '--json', file]);
    assert.equal(skipped.code, 0, `${name}: ${skipped.stderr}`);
    assert.match(skipped.stderr, /skipped 1 bad (input item|sample) \(--skip-bad\)/, name);
    assert.ok(JSON.parse(skipped.stdout.toString()).samples >= 1, name);
  }
  const missing = await runCli(['ls', join(dir, 'nope-{1..2}.tar')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /shard .*nope-1\.tar: no such file or directory/);
  const usage = await runCli(['ls', '--num-shards', '0', join(dir, 'cut.tar')]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /Expected a positive integer for --num-shards but received 0/);
});

test('a closed downstream pipe (| head -c 100) ends quietly with exit 0', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'many.tar');
  // 20,000 samples: far more output than a pipe buffer holds.
  writeFileSync(file, rawTar(Array.from({ length: 20_000 }, (_, i): [string, string] => [`key-${String(i).padStart(6, '0')}.cls`, String(i % 10)])));
  const text = await runShell(`$SYNTHAUG ls --keys '${file}' | head -c 100 > /dev/null; echo "\${PIPESTATUS[0]}"`);
  assert.equal(text.stdout.toString().trim(), '0', text.stderr);
  assert.equal(text.stderr, '');
  const tar = await runShell(`$SYNTHAUG mix '${file}' | head -c 100 > /dev/null; echo "\${PIPESTATUS[0]}"`);
  assert.equal(tar.stdout.toString().trim(), '0', tar.stderr);
  assert.equal(tar.stderr, '');
  // The library's write path itself surfaces EPIPE (rather than hanging or losing it).
  const script = join(dir, 'epipe.mjs');
  writeFileSync(
    script,
    `import { openSource, writeSink } from '${SHARDS_URL}';\n` +
      `writeSink(openSource([${JSON.stringify(file)}])).then(() => console.error('finished'), (e) => console.error('rejected ' + e.code));\n`,
  );
  const lib = await runShell(`node '${script}' | head -c 100 > /dev/null`);
  assert.match(lib.stderr, /rejected EPIPE/);
});

test('several inputs give exactly one archive on stdout', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'a.tar'), await tarBytes([sample('a0', 0), sample('a1', 1)]));
  writeFileSync(join(dir, 'b.tar'), await tarBytes([sample('b0', 0)]));
  // GNU tar stops at the first end-of-archive marker (without -i), so it sees every member only if there is one.
  const r = await runShell(`cd '${dir}' && $SYNTHAUG mix a.tar b.tar --seed 1 | tar tf - | wc -l`);
  assert.equal(r.stdout.toString().trim(), '9', r.stderr);
});

test('stdout that is a terminal is refused (exit 2)', { skip: existsSync('/usr/bin/script') ? false : 'no script(1) to make a terminal' }, async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'a.tar'), await tarBytes([sample('a0', 0)]));
  const r = await runShell(`cd '${dir}' && script -qec "$SYNTHAUG mix a.tar" /dev/null; echo "status $?"`);
  assert.match(r.stdout.toString(), /refusing to write tar data to a terminal/);
  assert.match(r.stdout.toString(), /status 2/);
});

test('-o pattern with --max-count writes complete shards; a failure removes only the unfinished one', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'a.tar'), await tarBytes(Array.from({ length: 5 }, (_, i) => sample(`s${i}`, i % 2))));
  const ok = await runShell(`cd '${dir}' && $SYNTHAUG mix a.tar -o 'out-%03d.tar' --max-count 2 && $SYNTHAUG ls --json out-{000..002}.tar`);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(JSON.parse(ok.stdout.toString()).samples, 5);
  // Three good samples, then a cut one: out2-000 (2 samples) is finished, out2-001 is removed.
  const good = await tarBytes([0, 1, 2].map((i) => sample(`g${i}`, 0)));
  const cut = rawTar([['c.cls', '0'], ['c.png', Buffer.alloc(5000)]]).subarray(0, 3000);
  writeFileSync(join(dir, 'bad.tar'), Buffer.concat([good.subarray(0, good.length - 1024), cut]));
  const bad = await runCli(['mix', 'bad.tar', '-o', 'out2-%03d.tar', '--max-count', '2'], { cwd: dir });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /bad\.tar, sample c: truncated/);
  assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('out2')), ['out2-000.tar']);
});

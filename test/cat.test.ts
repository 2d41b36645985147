// End-to-end: `synthaug cat` through the built binary. Several inputs (files, braces, stdin) give one
// archive whose bytes are exactly those of the samples written once; resharding by count or size and
// concatenating the shards again gives back the same bytes; partition, --skip-bad and usage errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tarBytes, type Sample } from '../src/shards/index.js';
import { spawn } from 'node:child_process';
import { BIN, runCli, runShell, tempDir } from './helpers/cli.js';
import { rawTar, sample } from './helpers/tar.js';

/** Samples of varied sizes (padding cases), with an unknown field and a long (PAX) key on some. */
function samples(prefix: string, n: number): Sample[] {
  return Array.from({ length: n }, (_, i) => {
    const s = sample(`${prefix}/${String(i).padStart(4, '0')}`, i % 3, [0, 1, 511, 512, 513, 3000, 70_000][i % 7]);
    if (i % 4 === 1) s.fields['seg.png'] = Buffer.from(`segment ${i}`);
    if (i % 5 === 2) s.key = `${prefix}/${'long-directory-name/'.repeat(6)}${i}`;
    return s;
  });
}

test('cat: several inputs (files, braces, stdin) give exactly one archive, byte-identical to the samples written once', async (t) => {
  const dir = tempDir(t);
  const a = samples('a', 11);
  const b = samples('b', 6);
  const c = samples('c', 4);
  writeFileSync(join(dir, 'in-0.tar'), await tarBytes(a));
  writeFileSync(join(dir, 'in-1.tar'), await tarBytes(b));
  writeFileSync(join(dir, 'c.tar'), await tarBytes(c));
  const expected = await tarBytes([...a, ...b, ...c]);

  const files = await runCli(['cat', 'in-{0..1}.tar', 'c.tar'], { cwd: dir });
  assert.equal(files.code, 0, files.stderr);
  assert.ok(files.stdout.equals(expected), 'files → one archive');

  // The input archives concatenated raw (three end markers) on stdin, and a file after stdin.
  const raw = Buffer.concat([readFileSync(join(dir, 'in-0.tar')), readFileSync(join(dir, 'in-1.tar'))]);
  const mixed = await runCli(['cat', '-', 'c.tar'], { cwd: dir, input: raw });
  assert.equal(mixed.code, 0, mixed.stderr);
  assert.ok(mixed.stdout.equals(expected), 'stdin + file → one archive');

  // An independent reader: GNU tar stops at the first end marker, so it lists every member only if there is one.
  const listed = await runShell(`cd '${dir}' && $SYNTHAUG cat in-0.tar in-1.tar c.tar | tar tf - | wc -l`);
  const members = [...a, ...b, ...c].reduce((n, s) => n + Object.keys(s.fields).length, 0);
  assert.equal(Number(listed.stdout.toString().trim()), members, listed.stderr);
});

test('cat: resharding by count or size and back gives the single-stream bytes', async (t) => {
  const dir = tempDir(t);
  const all = samples('s', 23);
  writeFileSync(join(dir, 'in.tar'), await tarBytes(all));
  const single = await runCli(['cat', 'in.tar'], { cwd: dir });
  assert.equal(single.code, 0, single.stderr);

  const byCount = await runCli(['cat', 'in.tar', '-o', 'n-%03d.tar', '--max-count', '5'], { cwd: dir });
  assert.equal(byCount.code, 0, byCount.stderr);
  const countShards = readdirSync(dir).filter((f) => f.startsWith('n-')).sort();
  assert.deepEqual(countShards, ['n-000.tar', 'n-001.tar', 'n-002.tar', 'n-003.tar', 'n-004.tar']);
  // Each shard holds its five samples (the last three), exactly as written alone.
  for (const [i, name] of countShards.entries()) {
    assert.ok(readFileSync(join(dir, name)).equals(await tarBytes(all.slice(5 * i, 5 * i + 5))), name);
  }
  const backFromCount = await runCli(['cat', 'n-{000..004}.tar'], { cwd: dir });
  assert.ok(backFromCount.stdout.equals(single.stdout), 'count shards → single stream');

  const bySize = await runCli(['cat', 'in.tar', '-o', 'z-%03d.tar', '--max-size', '100k'], { cwd: dir });
  assert.equal(bySize.code, 0, bySize.stderr);
  const sizeShards = readdirSync(dir).filter((f) => f.startsWith('z-')).sort();
  assert.ok(sizeShards.length > 2, `${sizeShards.length} size shards`);
  for (const name of sizeShards) assert.ok(readFileSync(join(dir, name)).length <= 100_000, name);
  const backFromSize = await runShell(`cd '${dir}' && cat ${sizeShards.join(' ')} | $SYNTHAUG cat -`);
  assert.equal(backFromSize.code, 0, backFromSize.stderr);
  assert.ok(backFromSize.stdout.equals(single.stdout), 'size shards, piped raw → single stream');
});

test('cat: --shard-index/--num-shards parts are disjoint and together the whole stream', async (t) => {
  const dir = tempDir(t);
  const all = samples('p', 10);
  writeFileSync(join(dir, 'in.tar'), await tarBytes(all));
  for (const index of [0, 1, 2]) {
    const part = await runCli(['cat', 'in.tar', '--shard-index', String(index), '--num-shards', '3'], { cwd: dir });
    assert.equal(part.code, 0, part.stderr);
    assert.ok(part.stdout.equals(await tarBytes(all.filter((_, i) => i % 3 === index))), `part ${index}`);
  }
});

test('cat: bad input fails naming shard and key (nothing left half-written); --skip-bad skips and counts', async (t) => {
  const dir = tempDir(t);
  const good = await tarBytes(samples('g', 3));
  writeFileSync(join(dir, 'good.tar'), good);
  writeFileSync(join(dir, 'cut.tar'), rawTar([['x.cls', '1'], ['y.cls', '2'], ['y.png', Buffer.alloc(4000, 7)]]).subarray(0, 2560 + 2000));
  const failed = await runCli(['cat', 'good.tar', 'cut.tar', '-o', 'out-%03d.tar'], { cwd: dir });
  assert.equal(failed.code, 1);
  assert.match(failed.stderr, /shard cut\.tar, sample y: truncated tar: member "y\.png" is cut after 2000 of 4000 bytes/);
  assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('out-')), []);

  const skipped = await runCli(['cat', 'good.tar', 'cut.tar', '--skip-bad'], { cwd: dir });
  assert.equal(skipped.code, 0, skipped.stderr);
  assert.match(skipped.stderr, /skipped 1 bad input item \(--skip-bad\)/);
  assert.ok(skipped.stdout.equals(await tarBytes([...samples('g', 3), { key: 'x', fields: { cls: Buffer.from('1') } }])));
});

test('cat: usage errors exit 2', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'a.tar'), await tarBytes(samples('a', 1)));
  const limitWithoutPattern = await runCli(['cat', 'a.tar', '--max-count', '3'], { cwd: dir });
  assert.equal(limitWithoutPattern.code, 2);
  assert.match(limitWithoutPattern.stderr, /--max-count and --max-size split output into shard files/);
  const badSize = await runCli(['cat', 'a.tar', '-o', 'o-%d.tar', '--max-size', 'lots'], { cwd: dir });
  assert.equal(badSize.code, 2);
  assert.match(badSize.stderr, /Expected a size such as .* for --max-size but received "lots"/);
});

test('an interrupted cat (SIGINT) leaves no temporary shard behind', async (t) => {
  const dir = tempDir(t);
  const child = spawn(process.execPath, [BIN, 'cat', '-', '-o', join(dir, 'out-%06d.tar')], { stdio: ['pipe', 'ignore', 'pipe'] });
  // Two samples, and the stream stays open: the shard is still being written.
  child.stdin.write(rawTar([['a.cls', '0'], ['b.cls', '1']], false));
  const deadline = Date.now() + 20_000;
  while (!readdirSync(dir).some((f) => f.includes('.tmp-'))) {
    assert.ok(Date.now() < deadline, 'the temporary shard never appeared');
    await new Promise((r) => setTimeout(r, 50));
  }
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  child.kill('SIGINT');
  assert.equal(await exited, 'SIGINT');
  assert.deepEqual(readdirSync(dir), []);
});

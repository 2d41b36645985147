// The seeded mutation fuzzer (helpers/fuzz.ts) in the suite: a few thousand cases in-process, then a
// handful of the same cases through the built binary. `npm run fuzz -- --cases N` runs more.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FUZZ_SHARD, fuzz, fuzzCase, seedCorpus } from './helpers/fuzz.js';
import { runCli, tempDir } from './helpers/cli.js';

test('fuzz: 3000 mutated shards through reading and decoding end in samples or InputErrors naming the shard', async () => {
  const report = await fuzz(3000, 1);
  assert.deepEqual(report.failures, []);
  assert.equal(report.ok + report.bad, 3000);
  assert.ok(report.ok > 100 && report.bad > 1000, `cases read whole ${report.ok}, with bad input ${report.bad}`);
  assert.ok(report.peakRssMB < 1024, `peak RSS ${report.peakRssMB} MB`);
});

test('fuzz: mutated shards through the binary exit 0, 1 or 2, and a failure names the shard', async (t) => {
  const dir = tempDir(t);
  const corpus = await seedCorpus();
  const file = join(dir, FUZZ_SHARD);
  const commands = [['ls', file], ['cat', file, '-o', join(dir, 'out.tar')], ['ls', file, '--skip-bad', '--keys'], ['cat', file, '--skip-bad']];
  for (const [i, args] of commands.entries()) {
    writeFileSync(file, fuzzCase(corpus, 7, i * 101));
    const r = await runCli(args);
    assert.ok([0, 1, 2].includes(r.code!), `${args.join(' ')}: exit ${r.code} ${r.signal ?? ''}\n${r.stderr}`);
    if (r.code === 1) assert.match(r.stderr, /synthaug: shard .*fuzz\.tar/);
    assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace');
  }
});

// Interoperability with Python's tarfile: shards written by tarfile (GNU, PAX, USTAR; long and
// unicode names; fixtures/make_tar_fixtures.py) read by synthaug, and shards written by synthaug
// read by tarfile with the WebDataset key rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openSource, tarBytes, type Sample } from '../src/shards/index.js';
import { ROOT, tempDir } from './helpers/cli.js';
import { collect } from './helpers/tar.js';

interface Expected {
  key: string;
  fields: Record<string, string>; // field → sha256 hex
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const digest = (samples: Sample[]): Expected[] =>
  samples.map((s) => ({ key: s.key, fields: Object.fromEntries(Object.entries(s.fields).map(([f, b]) => [f, sha256(b)])) }));

const expected = JSON.parse(readFileSync(join(ROOT, 'fixtures', 'tar', 'expected.json'), 'utf8')) as Record<string, Expected[]>;

for (const name of ['python-gnu.tar', 'python-pax.tar', 'python-ustar.tar']) {
  test(`reads ${name} written by Python's tarfile as WebDataset does`, async () => {
    const samples = await collect(openSource([join(ROOT, 'fixtures', 'tar', name)]));
    assert.deepEqual(digest(samples), expected[name]);
  });
}

test('the fixtures cover long names, unicode names and upper-case extensions', () => {
  const keys = expected['python-gnu.tar'].map((s) => s.key);
  assert.ok(keys.some((k) => Buffer.byteLength(k) > 100));
  assert.ok(keys.some((k) => /[^\x00-\x7f]/.test(k)));
  assert.ok(expected['python-gnu.tar'].some((s) => 'seg.png' in s.fields));
  assert.equal(expected['python-gnu.tar'].length, 5);
  assert.equal(expected['python-ustar.tar'].length, 4); // USTAR cannot hold the 124-byte basename
});

/** A python3 that runs, or null (the test is then skipped with the reason). */
function findPython(): string | null {
  for (const candidate of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(candidate, ['-c', 'import tarfile, json, hashlib'], { stdio: 'ignore' });
    if (r.status === 0) return candidate;
  }
  return null;
}

const PYTHON_READER = String.raw`
import hashlib, json, re, sys, tarfile
key_re = re.compile(r"^((?:.*/|)[^./]+)[.]([^/]*)$")  # WebDataset's base_plus_ext
samples = []
with tarfile.open(sys.argv[1]) as tar:
    for m in tar:
        if not m.isreg():
            continue
        match = key_re.match(m.name)
        if not match:
            continue
        key, field = match.group(1), match.group(2).lower()
        data = tar.extractfile(m).read()
        if not samples or samples[-1]["key"] != key:
            samples.append({"key": key, "fields": {}})
        assert field not in samples[-1]["fields"], (key, field)
        samples[-1]["fields"][field] = hashlib.sha256(data).hexdigest()
        assert m.mtime == 0 and m.uid == 0 and m.gid == 0 and m.mode == 0o644, m.name
json.dump(samples, sys.stdout, ensure_ascii=True)
`;

const python = findPython();
test('shards written by synthaug are read by Python\'s tarfile with the WebDataset key rule', { skip: python === null ? 'no python3 on this machine' : false }, async (t) => {
  const dir = tempDir(t);
  const samples: Sample[] = [
    { key: 'plain/000', fields: { cls: Buffer.from('7'), png: Buffer.alloc(700, 3), json: Buffer.from('{"class":"x"}') } },
    { key: `long/${'d'.repeat(90)}/${'e'.repeat(40)}`, fields: { 'seg.png': Buffer.alloc(512, 1), cls: Buffer.from('1') } },
    { key: 'unicode/données-日本語', fields: { txt: Buffer.from('héllo'), cls: Buffer.from('2') } },
    { key: 'empty', fields: { bin: Buffer.alloc(0) } },
  ];
  const file = join(dir, 'synthaug.tar');
  writeFileSync(file, await tarBytes(samples));
  const r = spawnSync(python!, ['-c', PYTHON_READER, file], { encoding: 'utf8', env: { ...process.env, PYTHONIOENCODING: 'utf-8' } });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), digest(samples));
});

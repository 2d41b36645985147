// Unit tests of the shard library on in-memory streams: the key rule, brace expansion, tar encoding,
// grouping, bad input of every kind, with and without skipping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { InputError, UsageError } from '../src/errors.js';
import {
  checkStdinOnce,
  expandBraces,
  expandSources,
  keyProblem,
  readsStdin,
  readTar,
  skipBadSamples,
  splitMemberName,
  tarBytes,
  type Sample,
} from '../src/shards/index.js';
import { parseHeader, parsePaxRecords } from '../src/shards/tar-format.js';
import { rejectUnknownOptions } from '../src/options.js';
import { collect, fromArray, rawTar, sample } from './helpers/tar.js';

/** Read an in-memory archive, delivered in chunks of `chunk` bytes (to exercise every boundary case). */
function read(bytes: Buffer, options: Parameters<typeof readTar>[2] = {}, chunk = 7919): Promise<Sample[]> {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunk) chunks.push(bytes.subarray(i, i + chunk));
  return collect(readTar(Readable.from(chunks), 'mem.tar', options));
}

/** Collects what a skipping reader reports. */
function skipper() {
  const errors: InputError[] = [];
  return { errors, options: { skipBad: true, onBad: (e: InputError) => errors.push(e) } };
}

test('key rule: path up to the first dot of the basename; field lower-cased', () => {
  assert.deepEqual(splitMemberName('a/b.seg.PNG'), { key: 'a/b', field: 'seg.png' });
  assert.deepEqual(splitMemberName('x.y/z.cls'), { key: 'x.y/z', field: 'cls' });
  assert.deepEqual(splitMemberName('k.'), { key: 'k', field: '' });
  assert.equal(splitMemberName('README'), null);
  assert.equal(splitMemberName('dir/.hidden.png'), null);
  assert.equal(splitMemberName('x.y/z'), null);
  assert.equal(keyProblem('a/b'), null);
  assert.match(keyProblem('a/b.c') ?? '', /dot/);
  assert.match(keyProblem('') ?? '', /empty/);
  assert.match(keyProblem('a/') ?? '', /ends with/);
});

test('brace expansion: ranges with zero padding, lists, steps, nesting, literals', () => {
  assert.deepEqual(expandBraces('train-{000000..000003}.tar'), ['train-000000.tar', 'train-000001.tar', 'train-000002.tar', 'train-000003.tar']);
  assert.deepEqual(expandBraces('{8..11}'), ['8', '9', '10', '11']);
  assert.deepEqual(expandBraces('{08..10}'), ['08', '09', '10']);
  assert.deepEqual(expandBraces('{0..10..5}'), ['0', '5', '10']);
  assert.deepEqual(expandBraces('{3..1}'), ['3', '2', '1']);
  assert.deepEqual(expandBraces('{a..c}'), ['a', 'b', 'c']);
  assert.deepEqual(expandBraces('{a,b}-{1..2}.tar'), ['a-1.tar', 'a-2.tar', 'b-1.tar', 'b-2.tar']);
  assert.deepEqual(expandBraces('{x,y{1,2}}'), ['x', 'y1', 'y2']);
  assert.deepEqual(expandBraces('lit{x}.tar'), ['lit{x}.tar']);
  assert.deepEqual(expandBraces('open{a,b'), ['open{a,b']);
  assert.deepEqual(expandBraces('{a,}b'), ['ab', 'b']);
  assert.deepEqual(expandSources(['a.tar::s-{0..1}.tar', '-', 'pipe:cat x-{1,2}', 'dir']), [
    'a.tar', 's-0.tar', 's-1.tar', '-', 'pipe:cat x-1', 'pipe:cat x-2', 'dir',
  ]);
});

test('round trip: samples → tar → samples, with fields sorted and bytes intact', async () => {
  const samples = [
    sample('a/000', 3, 0),
    sample('a/001', 1, 511),
    sample('b/002', 0, 512),
    { key: 'c/003', fields: { 'seg.png': Buffer.alloc(513, 9), txt: Buffer.from('hello') } },
  ];
  const bytes = await tarBytes(samples);
  assert.equal(bytes.length % 512, 0);
  const back = await read(bytes);
  assert.deepEqual(back.map((s) => s.key), samples.map((s) => s.key));
  for (const [i, s] of back.entries()) {
    assert.deepEqual(s.fields, samples[i].fields);
    assert.equal(s.shard, 'mem.tar');
  }
  // Members are written in sorted field order: cls, json, png.
  const names: string[] = [];
  for (let off = 0; off < bytes.length; ) {
    const h = parseHeader(bytes.subarray(off, off + 512));
    if (!h) break;
    names.push(h.name);
    off += 512 + Math.ceil(h.size / 512) * 512;
  }
  assert.deepEqual(names.slice(0, 3), ['a/000.cls', 'a/000.json', 'a/000.png']);
});

test('writing is deterministic: same samples, same bytes; fixed mtime, owner and mode', async () => {
  const one = await tarBytes([sample('k/1', 2, 1000)]);
  const reordered = sample('k/1', 2, 1000);
  reordered.fields = { png: reordered.fields.png, json: reordered.fields.json, cls: reordered.fields.cls };
  const two = await tarBytes([reordered]);
  assert.ok(one.equals(two));
  const h = one.subarray(0, 512);
  assert.equal(h.toString('latin1', 100, 107), '0000644'); // mode
  assert.equal(h.toString('latin1', 108, 115), '0000000'); // uid
  assert.equal(h.toString('latin1', 116, 123), '0000000'); // gid
  assert.equal(h.toString('latin1', 136, 147), '00000000000'); // mtime
  assert.equal(h.toString('latin1', 257, 263), 'ustar\0');
  assert.equal(h[265], 0); // empty uname
  assert.equal(h[297], 0); // empty gname
  // The end-of-archive marker: two zero blocks.
  assert.ok(one.subarray(one.length - 1024).equals(Buffer.alloc(1024)));
});

test('long and non-ASCII names get a PAX header; short ASCII names do not', async () => {
  const short = await tarBytes([{ key: 'k', fields: { png: Buffer.from('x') } }]);
  assert.equal(short.length, 512 + 512 + 1024);
  const longKey = 'dir/'.repeat(40) + 'sample';
  for (const key of [longKey, 'données/日本']) {
    const bytes = await tarBytes([{ key, fields: { png: Buffer.from('x') } }]);
    const pax = parseHeader(bytes.subarray(0, 512));
    assert.equal(pax?.type, 'x');
    const records = parsePaxRecords(bytes.subarray(512, 512 + pax!.size));
    assert.ok(records instanceof Map);
    assert.equal(records.get('path'), `${key}.png`);
    const back = await read(bytes);
    assert.equal(back[0].key, key);
  }
});

test('PAX record lengths count their own digits', () => {
  // "%d path=%s\n": the length includes its own digits, so bodies near 98 and 997 bytes change the digit count.
  // A non-ASCII character forces a PAX header whatever the length.
  for (let len = 80; len <= 1000; len += len < 100 || len >= 980 ? 1 : 100) {
    const name = `é${'n'.repeat(len)}`;
    const bytes = rawTar([[`${name}.png`, 'x']]);
    const pax = parseHeader(bytes.subarray(0, 512))!;
    assert.equal(pax.type, 'x');
    const records = parsePaxRecords(bytes.subarray(512, 512 + pax.size));
    assert.ok(records instanceof Map, `length ${len}: ${String(records)}`);
    assert.equal(records.get('path'), `${name}.png`);
  }
});

test('adjacent members group into samples; directories and dotless names are ignored', async () => {
  const bytes = rawTar([
    ['a.cls', '1'],
    ['a.PNG', 'p'],
    ['README', 'no sample'],
    ['b.cls', '2'],
  ]);
  const samples = await read(bytes, {}, 100);
  assert.deepEqual(samples.map((s) => [s.key, Object.keys(s.fields).sort()]), [
    ['a', ['cls', 'png']],
    ['b', ['cls']],
  ]);
});

test('concatenated archives read as one stream', async () => {
  const bytes = Buffer.concat([await tarBytes([sample('a', 0)]), await tarBytes([sample('b', 1)])]);
  assert.deepEqual((await read(bytes)).map((s) => s.key), ['a', 'b']);
});

test('a key that reappears after other samples is an InputError naming shard and key', async () => {
  const bytes = rawTar([
    ['a.cls', '1'],
    ['b.cls', '2'],
    ['a.png', 'late'],
    ['c.cls', '3'],
  ]);
  await assert.rejects(read(bytes), (e: unknown) => e instanceof InputError && e.shard === 'mem.tar' && e.key === 'a' && /adjacent/.test(e.message));
  const { errors, options } = skipper();
  const kept = await read(bytes, options);
  assert.deepEqual(kept.map((s) => s.key), ['a', 'b', 'c']);
  assert.deepEqual(Object.keys(kept[0].fields), ['cls']);
  assert.equal(errors.length, 1);
});

test('a field twice in one sample is an InputError; skipping drops the whole sample', async () => {
  const bytes = rawTar([
    ['a.cls', '1'],
    ['b.png', 'x'],
    ['b.PNG', 'y'],
    ['b.cls', '2'],
    ['c.cls', '3'],
  ]);
  await assert.rejects(read(bytes), (e: unknown) => e instanceof InputError && e.key === 'b' && /twice/.test(e.message) && /shard mem\.tar, sample b/.test(e.message));
  const { errors, options } = skipper();
  assert.deepEqual((await read(bytes, options)).map((s) => s.key), ['a', 'c']);
  assert.equal(errors.length, 1);
});

test('a tar cut mid-member: InputError naming shard and key; the cut sample is never emitted', async () => {
  const whole = rawTar([
    ['a.cls', '1'],
    ['a.png', Buffer.alloc(2000, 1)],
    ['b.cls', '2'],
    ['b.png', Buffer.alloc(2000, 2)],
  ]);
  // a.cls at 0, a.png at 1024 (data to 3536, padded to 3584), b.cls at 3584, b.png at 4608 (data from 5120).
  const cut = whole.subarray(0, 5120 + 1000); // inside b.png's data
  await assert.rejects(read(cut), (e: unknown) => e instanceof InputError && e.key === 'b' && /cut after 1000 of 2000/.test(e.message));
  const { errors, options } = skipper();
  assert.deepEqual((await read(cut, options)).map((s) => s.key), ['a']);
  assert.equal(errors.length, 1);
  // Cut inside a header, and inside the padding after data.
  await assert.rejects(read(whole.subarray(0, 3584 + 100)), /truncated tar: 100 bytes of a header/);
  await assert.rejects(read(whole.subarray(0, 3536 + 10)), /padding after member "a.png" is cut/);
  // Cut exactly between members: a valid (if unterminated) archive.
  assert.deepEqual((await read(whole.subarray(0, 3584))).map((s) => s.key), ['a']);
});

test('garbage bytes: InputError at the start or after good samples; skipping keeps what came before', async () => {
  const garbage = Buffer.alloc(4096);
  for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919 + 13) & 0xff;
  await assert.rejects(read(garbage), (e: unknown) => e instanceof InputError && e.shard === 'mem.tar' && /not a tar header at byte 0/.test(e.message));
  const good = rawTar([['a.cls', '1'], ['b.cls', '2']], false);
  const mixed = Buffer.concat([good, garbage]);
  await assert.rejects(read(mixed), (e: unknown) => e instanceof InputError && e.key === 'b' && /not a tar header at byte 2048/.test(e.message));
  const { errors, options } = skipper();
  // 'b' was still open when the garbage came, so it may be incomplete: only 'a' is kept.
  assert.deepEqual((await read(mixed, options)).map((s) => s.key), ['a']);
  assert.equal(errors.length, 1);
});

test('the non-adjacent check remembers a bounded window of keys', async () => {
  const members: [string, string][] = [];
  for (let i = 0; i < 50; i++) members.push([`k${i}.cls`, '0']);
  members.push(['k0.png', 'again']);
  await assert.rejects(read(rawTar(members), { keyWindow: 100 }), /adjacent/);
  // With a window of 10 keys, k0 was forgotten long ago (memory stays bounded on endless streams).
  assert.equal((await read(rawTar(members), { keyWindow: 10 })).length, 51);
  // Keys in increasing order (the fast path lists them without a set) are still checked when one comes back.
  const sorted: [string, string][] = [];
  for (let i = 0; i < 50; i++) sorted.push([`s${String(i).padStart(3, '0')}.cls`, '0']);
  for (const again of ['s000', 's025', 's048']) {
    await assert.rejects(read(rawTar([...sorted, [`${again}.png`, 'x']]), { keyWindow: 100 }), /adjacent/, again);
  }
  assert.equal((await read(rawTar([...sorted, ['s000.png', 'x']]), { keyWindow: 10 })).length, 51);
  assert.equal((await read(rawTar([...sorted, ['s0000.png', 'x'], ['a.cls', '1']]), { keyWindow: 100 })).length, 52);
});

test('skipBadSamples: a per-sample check that skips and counts InputErrors, or rethrows them', async () => {
  const samples = [sample('a', 0), { key: 'b', fields: { cls: Buffer.from('x') } }, sample('c', 2)];
  const check = (s: Sample) => {
    if (!/^\d+$/.test(s.fields.cls.toString())) throw new InputError('bad cls', s);
    return s;
  };
  await assert.rejects(collect(skipBadSamples(check)(fromArray(samples))), /sample b: bad cls/);
  const seen: string[] = [];
  const kept = await collect(skipBadSamples(check, { skipBad: true, onBad: (e) => seen.push(e.key!) })(fromArray(samples)));
  assert.deepEqual(kept.map((s) => s.key), ['a', 'c']);
  assert.deepEqual(seen, ['b']);
  // Errors that are not about the input are never skipped.
  const broken = () => {
    throw new TypeError('bug');
  };
  await assert.rejects(collect(skipBadSamples(broken, { skipBad: true })(fromArray(samples))), TypeError);
  assert.throws(() => {
    throw new UsageError('x');
  }, UsageError);
});

test('stdin is named at most once across specs, lists included; option-like positionals are refused', () => {
  assert.equal(readsStdin('-'), true);
  assert.equal(readsStdin('a.tar::-'), true);
  assert.equal(readsStdin('a-{0..2}.tar'), false);
  checkStdinOnce(['a.tar', '-', 'b.tar']);
  assert.throws(() => checkStdinOnce(['-', 'b.tar::-']), (err: unknown) => err instanceof UsageError && /stdin \(-\) can be read only once/.test(err.message));
  rejectUnknownOptions(['-', 'a.tar']);
  assert.throws(() => rejectUnknownOptions(['a.tar', '--bogus', '-x']), (err: unknown) => err instanceof UsageError && err.message === 'Unknown arguments: --bogus, -x');
});

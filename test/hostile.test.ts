// Hostile input, one regression test per reported failure: labels that would size memory, decompression
// bombs and formats a field does not name, tar members that are not regular files, names as bytes,
// unbounded runs of skipped data, special files in image folders, outputs that would replace inputs,
// and names that escape a directory or the terminal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { InputError, UsageError } from '../src/errors.js';
import { decodeImage, encodePng, probeImage } from '../src/images/codec.js';
import { readImageHeader } from '../src/images/header.js';
import {
  decodeName,
  encodeName,
  expandBraces,
  imageField,
  openSource,
  printableName,
  readTar,
  sampleLabel,
  tarBytes,
  writeSink,
  type Sample,
} from '../src/shards/index.js';
import { LabelSet } from '../src/training/labels.js';
import { END_OF_ARCHIVE } from '../src/shards/tar-format.js';
import { runCli, runShell, tempDir } from './helpers/cli.js';
import { collect, fromArray, rawMember, rawTar } from './helpers/tar.js';

const withCls = (cls: string): Sample => ({ key: 'k', shard: 's.tar', fields: { cls: Buffer.from(cls) } });

function read(bytes: Buffer, options: Parameters<typeof readTar>[2] = {}): Promise<Sample[]> {
  return collect(readTar(Readable.from([bytes]), 'mem.tar', options));
}

/** An 8x8 JPEG whose frame header (SOF) is rewritten to claim width x height. */
async function jpegClaiming(width: number, height: number): Promise<Buffer> {
  const jpeg = await sharp(Buffer.alloc(8 * 8 * 3, 128), { raw: { width: 8, height: 8, channels: 3 } }).jpeg().toBuffer();
  for (let at = 2; at < jpeg.length; ) {
    const marker = jpeg[at + 1];
    if (marker >= 0xc0 && marker <= 0xc2) {
      jpeg.writeUInt16BE(height, at + 5);
      jpeg.writeUInt16BE(width, at + 7);
      return jpeg;
    }
    at += 2 + jpeg.readUInt16BE(at + 2);
  }
  throw new Error('no SOF in the test JPEG');
}

const SVG = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="16000" height="16000"><rect width="1" height="1"/></svg>');

test('labels: cls must be a decimal integer below --max-classes; nothing is sized by it first', () => {
  assert.equal(sampleLabel(withCls('7\n')), 7);
  assert.equal(sampleLabel(withCls('99999')), 99_999);
  for (const cls of ['100000', '1000000000000', '50000000', '9'.repeat(400)]) {
    assert.throws(() => sampleLabel(withCls(cls)), (e) => e instanceof InputError && /shard s\.tar, sample k: cls .* is not below --max-classes 100000/.test(e.message));
  }
  assert.throws(() => sampleLabel(withCls('12'), 10), /not below --max-classes 10/);
  for (const cls of ['-1', '1e3', '0x10', '', '１']) assert.throws(() => sampleLabel(withCls(cls)), InputError);
  // The label set (train-classifier, cas) grows an array up to the label: a huge one is a skippable InputError.
  const labels = new LabelSet();
  const started = Date.now();
  assert.throws(() => labels.observe(withCls('1000000000000')), (e) => e instanceof InputError && e.name === 'InputError');
  assert.equal(labels.numClasses, 0);
  assert.ok(Date.now() - started < 1000);
});

test('ls: a 400-digit cls is a bad sample naming shard and key (never "Infinity"); --skip-bad counts it', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'huge.tar');
  writeFileSync(file, rawTar([['a.cls', '1'], ['b.cls', '9'.repeat(400)], ['c.cls', '1000000000000']]));
  const r = await runCli(['ls', file]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /shard .*huge\.tar, sample b: cls 9{40}\.\.\. \(400 digits\) is not below --max-classes/);
  const skip = await runCli(['ls', file, '--skip-bad']);
  assert.equal(skip.code, 0, skip.stderr);
  assert.equal(skip.stdout.toString(), 'cls\tclass\tsamples\n1\t-\t1\ntotal\t\t1\n');
  assert.match(skip.stderr, /skipped 2 bad samples/);
  assert.doesNotMatch(skip.stdout.toString(), /Infinity/);
  const more = await runCli(['ls', file, '--max-classes', '2000000000000', '--skip-bad']);
  assert.match(more.stdout.toString(), /^1000000000000\t-\t1$/m);
});

test('images: the header pixel count is checked before decoding (a 16000x16000 JPEG of ~300 bytes)', async () => {
  const bomb = await jpegClaiming(16000, 16000);
  assert.ok(bomb.length < 1000);
  assert.deepEqual(readImageHeader(bomb), { format: 'jpeg', width: 16000, height: 16000 });
  const where = { shard: 'bomb.tar', key: 'b' };
  const started = Date.now();
  await assert.rejects(probeImage(bomb, where), /shard bomb\.tar, sample b: .*16000x16000 = 256000000 pixels, above the limit of 178956970/);
  await assert.rejects(decodeImage(bomb, { width: 8, height: 8, channels: 3, resize: 'stretch' }, where), /above the limit/);
  assert.ok(Date.now() - started < 2000, 'refused without decoding');
  // Below a lower --max-pixels, a small image is refused the same way; within the limit it decodes.
  const png = encodePng(new Uint8Array(10 * 10), { width: 10, height: 10, channels: 1 });
  await assert.rejects(decodeImage(png, { width: 10, height: 10, channels: 1, resize: 'none', maxPixels: 99 }), /10x10 = 100 pixels, above the limit of 99/);
  assert.equal((await decodeImage(png, { width: 10, height: 10, channels: 1, resize: 'none', maxPixels: 100 })).length, 100);
});

test('images: the format in the bytes must be the one the field names; SVG and others are never decoded', async () => {
  const png = encodePng(new Uint8Array(4 * 4), { width: 4, height: 4, channels: 1 });
  const jpeg = await jpegClaiming(8, 8);
  const webp = await sharp(Buffer.alloc(4 * 4 * 3), { raw: { width: 4, height: 4, channels: 3 } }).webp({ lossless: true }).toBuffer();
  const ok = (fields: Record<string, Buffer>) => imageField({ key: 'k', shard: 's', fields });
  assert.equal(ok({ png }), 'png');
  assert.equal(ok({ jpg: jpeg }), 'jpg');
  assert.equal(ok({ jpeg }), 'jpeg');
  assert.equal(ok({ webp }), 'webp');
  assert.deepEqual(readImageHeader(webp), { format: 'webp', width: 4, height: 4 });
  assert.throws(() => ok({ png: SVG }), /shard s, sample k: image does not decode: field "png" holds svg\/xml data, not png/);
  assert.throws(() => ok({ png: jpeg }), /field "png" holds jpeg data, not png/);
  assert.throws(() => ok({ webp: png }), /field "webp" holds png data, not webp/);
  await assert.rejects(decodeImage(SVG, { width: 8, height: 8, channels: 3, resize: 'stretch' }), /svg\/xml data: only png, jpeg and webp are decoded/);
});

test('pack: eight JPEG bombs in a small tar are bad samples, refused without decoding; --skip-bad counts them', async (t) => {
  const dir = tempDir(t);
  const bomb = await jpegClaiming(16000, 16000);
  const members: [string, Buffer | string][] = [];
  for (let i = 0; i < 8; i++) members.push([`b${i}.cls`, '0'], [`b${i}.jpg`, bomb]);
  members.push(['s.cls', '0'], ['s.png', SVG]);
  const file = join(dir, 'bombs.tar');
  writeFileSync(file, rawTar(members));
  const r = await runCli(['pack', file, '--skip-bad', '-o', join(dir, 'out.tar')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /skipped 9 bad samples/);
  assert.match(r.stderr, /sample b0: image does not decode: image is 16000x16000/);
  assert.match(r.stderr, /sample s: image does not decode: field "png" holds svg\/xml data, not png/);
  const fail = await runCli(['pack', file, '-o', join(dir, 'out2.tar')]);
  assert.equal(fail.code, 1);
  assert.match(fail.stderr, /shard .*bombs\.tar, sample b0: image does not decode/);
});

test('image folders: FIFOs and devices are skipped with a notice; a dangling symlink is a bad input --skip-bad skips', async (t) => {
  const dir = tempDir(t);
  const cls = join(dir, 'folder', 'cat');
  mkdirSync(cls, { recursive: true });
  writeFileSync(join(cls, 'a.png'), encodePng(new Uint8Array(4), { width: 2, height: 2, channels: 1 }));
  execFileSync('mkfifo', [join(cls, 'b.png')]);
  symlinkSync('/dev/zero', join(cls, 'z.png'));
  const folder = join(dir, 'folder');
  const r = await runCli(['ls', folder]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.toString(), 'cls\tclass\tsamples\n0\tcat\t1\ntotal\t\t1\n');
  assert.match(r.stderr, /cat\/b\.png is not a regular file/);
  assert.match(r.stderr, /cat\/z\.png is not a regular file/);
  symlinkSync(join(dir, 'nowhere.png'), join(cls, 'd.png'));
  const dangling = await runCli(['ls', folder]);
  assert.equal(dangling.code, 1);
  assert.match(dangling.stderr, /shard .*folder, sample cat\/d: cannot read cat\/d\.png: ENOENT/);
  const skipped = await runCli(['ls', folder, '--skip-bad']);
  assert.equal(skipped.code, 0, skipped.stderr);
  assert.match(skipped.stdout.toString(), /^total\t\t1$/m);
  // The member size limit applies to image files too.
  const small = await runCli(['ls', folder, '--skip-bad', '--max-member-size', '10']);
  assert.match(small.stderr, /cat\/a\.png has \d+ bytes, more than --max-member-size 10/);
  assert.match(small.stdout.toString(), /^total\t\t0$/m);
});

test('tar members: hard links resolve to the earlier member (files); other non-regular members are reported', async (t) => {
  const dir = tempDir(t);
  const archive = Buffer.concat([
    rawMember('d/', '', '5'),
    rawMember('a.cls', '3'),
    rawMember('a.png', 'PIXELS'),
    rawMember('b.cls', '4'),
    rawMember('b.png', '', '1', 'a.png'), // hard link
    rawMember('c.png', '', '2', 'a.png'), // symlink
    rawMember('dev.png', '', '3'),
    rawMember('fifo.png', '', '6'),
    END_OF_ARCHIVE,
  ]);
  const file = join(dir, 'links.tar');
  writeFileSync(file, archive);
  const r = await runCli(['cat', file]);
  assert.equal(r.code, 0, r.stderr);
  const samples = await read(r.stdout);
  assert.deepEqual(samples.map((s) => [s.key, s.fields.png?.toString()]), [['a', 'PIXELS'], ['b', 'PIXELS']]);
  assert.match(r.stderr, /shard .*links\.tar: skipped members that hold no file data: 1 directory, 1 symbolic link, 1 character device, 1 FIFO \(--verbose names them\)/);
  const verbose = await runCli(['cat', file, '--verbose']);
  assert.match(verbose.stderr, /symbolic link member "c\.png"/);
  assert.match(verbose.stderr, /FIFO member "fifo\.png"/);
  // A stream cannot go back: the link is a bad sample, never dropped silently.
  const piped = await runCli(['cat', '-'], { input: archive });
  assert.equal(piped.code, 1);
  assert.match(piped.stderr, /shard -, sample b: hard link "b\.png" to "a\.png": links are resolved only in files/);
});

test('tar members: GNU tar of a folder with hard-linked duplicates loses no image', async (t) => {
  const dir = tempDir(t);
  const data = join(dir, 'data');
  mkdirSync(data);
  writeFileSync(join(data, 'x.png'), 'IMAGE-X');
  writeFileSync(join(data, 'x.cls'), '1');
  linkSync(join(data, 'x.png'), join(data, 'y.png'));
  linkSync(join(data, 'x.cls'), join(data, 'y.cls'));
  execFileSync('tar', ['--format=gnu', '--sort=name', '-cf', join(dir, 'gnu.tar'), '-C', dir, 'data']);
  const r = await runCli(['ls', join(dir, 'gnu.tar'), '--keys']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.toString().split('\n').filter(Boolean).sort().join('\n'), 'data/x\tcls,png\ndata/y\tcls,png');
});

test('names are bytes: names differing only in non-UTF-8 bytes stay distinct and are written back exactly', async () => {
  const ff = Buffer.from([0x61, 0xff, 0x2e, 0x63, 0x6c, 0x73]); // a\xff.cls
  const fe = Buffer.from([0x61, 0xfe, 0x2e, 0x63, 0x6c, 0x73]); // a\xfe.cls
  const archive = Buffer.concat([rawMember(ff, '1'), rawMember(fe, '2'), END_OF_ARCHIVE]);
  const samples = await read(archive);
  assert.equal(samples.length, 2);
  assert.notEqual(samples[0].key, samples[1].key);
  assert.deepEqual(encodeName(samples[0].key), Buffer.from([0x61, 0xff]));
  assert.equal(printableName(samples[0].key), 'a\\xff');
  assert.equal(decodeName(Buffer.from('é€😀', 'utf8')), 'é€😀');
  // Written back (PAX path with hdrcharset=BINARY) and read again: the same bytes.
  const again = await read(await tarBytes(samples));
  assert.deepEqual(again.map((s) => encodeName(s.key)), [Buffer.from([0x61, 0xff]), Buffer.from([0x61, 0xfe])]);
  const python = execFileSync('/usr/bin/python3', ['-c', 'import sys,tarfile; t=tarfile.open(fileobj=sys.stdin.buffer, mode="r|"); print([m.name.encode("utf-8","surrogateescape").hex() for m in t])'], {
    input: await tarBytes(samples),
  });
  assert.equal(python.toString().trim(), "['61ff2e636c73', '61fe2e636c73']");
});

test('image folders: file names that differ only in non-UTF-8 bytes stay distinct samples', async (t) => {
  const dir = tempDir(t);
  const cls = join(dir, 'folder', 'cat');
  mkdirSync(cls, { recursive: true });
  const png = encodePng(new Uint8Array(4), { width: 2, height: 2, channels: 1 });
  for (const byte of [0xfe, 0xff]) writeFileSync(Buffer.concat([Buffer.from(`${cls}/a`), Buffer.of(byte), Buffer.from('.png')]), png);
  const r = await runCli(['ls', join(dir, 'folder'), '--keys']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.toString(), 'cat/a\\xfe\tcls,json,png\ncat/a\\xff\tcls,json,png\n');
});

test('writing refuses absolute, ".." and control-character names as bad samples; ls escapes them', async (t) => {
  for (const key of ['../../x', '/abs/x', 'a/../b', 'new\nline', 'esc\u001b[2J']) {
    await assert.rejects(tarBytes(fromArray([{ key, fields: { cls: Buffer.from('0') } }])), (e) => e instanceof InputError && /cannot write sample/.test(e.message));
  }
  const dir = tempDir(t);
  const file = join(dir, 'names.tar');
  writeFileSync(file, rawTar([['../../x.cls', '0'], ['/abs/x.cls', '0'], ['new\nline.cls', '0'], ['esc\u001b[2J.cls', '0']]));
  const r = await runCli(['ls', file, '--keys']);
  assert.equal(r.stdout.toString(), '../../x\tcls\n/abs/x\tcls\nnew\\nline\tcls\nesc\\x1b[2J\tcls\n');
  const cat = await runCli(['cat', file, '-o', join(dir, 'out.tar')]);
  assert.equal(cat.code, 1);
  assert.match(cat.stderr, /sample \.\.\/\.\.\/x: cannot write sample: key has a "\.\." path segment/);
  const skip = await runCli(['cat', file, '--skip-bad', '-o', join(dir, 'out.tar')]);
  assert.equal(skip.code, 0, skip.stderr);
  assert.match(skip.stderr, /sample new\\nline: cannot write sample: key contains a control character/);
});

test('bounded memory: skipped members and zero blocks are not accumulated; /dev/zero ends; huge members are refused unread', async (t) => {
  // 256 MB of directory headers through `ls -` from a pipe: peak RSS stays flat.
  const gen = `const b=Buffer.alloc(1<<20);for(let i=0;i<2048;i++){const h=Buffer.alloc(512);h.write('d'+i+'/',0);h.write('0000755\\0',100);h.write('00000000000\\0',124);h[156]=53;h.write('ustar\\0',257);h.fill(32,148,156);let s=0;for(const x of h)s+=x;h.write(s.toString(8).padStart(6,'0')+'\\0 ',148);h.copy(b,i*512);}let n=0;const w=()=>{while(n<256){n++;if(!process.stdout.write(b))return process.stdout.once('drain',w);}};w();`;
  const r = await runShell(`${process.execPath} -e "${gen}" | /usr/bin/time -f 'rss %M' $SYNTHAUG ls -`);
  assert.equal(r.code, 0, r.stderr);
  const rss = Number(/rss (\d+)/.exec(r.stderr)![1]) / 1024;
  assert.ok(rss < 200, `peak RSS ${rss} MB`);
  assert.match(r.stderr, /skipped members that hold no file data: 524288 directories/);
  // /dev/zero: an endless run of zero blocks ends the archive.
  const zero = await runCli(['ls', '/dev/zero']);
  assert.equal(zero.code, 0, zero.stderr);
  assert.match(zero.stderr, /MiB of zero blocks at byte 0: taken as the end of the archive/);
  // A member over --max-member-size is a bad sample; the stream goes on after it.
  const dir = tempDir(t);
  const file = join(dir, 'big.tar');
  writeFileSync(file, rawTar([['a.cls', '0'], ['a.bin', Buffer.alloc(5000)], ['b.cls', '1']]));
  const big = await runCli(['ls', file, '--max-member-size', '4k', '--skip-bad']);
  assert.match(big.stderr, /sample a: member "a\.bin" has 5000 bytes, more than --max-member-size 4000/);
  assert.match(big.stdout.toString(), /^total\t\t1$/m);
  // An extended header (read into memory) claiming 8 GB is refused, not allocated.
  const pax = Buffer.concat([rawMember('././@PaxHeader', '', 'x').subarray(0, 512), END_OF_ARCHIVE]);
  pax.write('77777777777\0', 124, 'latin1');
  pax.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += pax[i];
  pax.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  await assert.rejects(read(pax), /extended header of 8589934591 bytes/);
});

test('brace patterns expand lazily; numbers beyond 2^53 are a usage error', async () => {
  const started = Date.now();
  openSource(['x-{0..99999999}.tar']); // takes the first CHECKED_AHEAD names only
  assert.ok(Date.now() - started < 5000);
  assert.throws(() => expandBraces('{0..99999999999999999999}'), /beyond 2\^53/);
  assert.throws(() => openSource(['x-{0..99999999999999999999}.tar']), UsageError);
  const r = await runCli(['ls', 'x-{0..99999999}.tar']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /shard x-0\.tar: no such file/);
  const big = await runCli(['ls', 'x-{0..99999999999999999999}.tar']);
  assert.equal(big.code, 2);
});

test('outputs never replace inputs: a sink that could write over an input is a usage error, nothing written', async (t) => {
  const dir = tempDir(t);
  const samples = Array.from({ length: 10 }, (_, i): [string, string] => [`k${i}.cls`, String(i)]);
  writeFileSync(join(dir, 'small.tar'), rawTar(samples));
  const first = await runCli(['cat', 'small.tar', '-o', 'in-%d.tar', '--max-count', '5'], { cwd: dir });
  assert.equal(first.code, 0, first.stderr);
  const before = [readFileSync(join(dir, 'in-0.tar')), readFileSync(join(dir, 'in-1.tar'))];
  const again = await runCli(['cat', 'in-{0..1}.tar', '-o', 'in-%d.tar', '--max-count', '4'], { cwd: dir });
  assert.equal(again.code, 2);
  assert.match(again.stderr, /refusing to write "in-%d\.tar": it could replace the input "in-0\.tar"/);
  assert.deepEqual([readFileSync(join(dir, 'in-0.tar')), readFileSync(join(dir, 'in-1.tar'))], before);
  // The same file under another name (a hard link, a symlink) is caught by device and inode.
  linkSync(join(dir, 'small.tar'), join(dir, 'other.tar'));
  const linked = await runCli(['cat', 'small.tar', '-o', 'other.tar'], { cwd: dir });
  assert.equal(linked.code, 2);
  symlinkSync('small.tar', join(dir, 'alias.tar'));
  assert.equal((await runCli(['cat', 'alias.tar', '-o', 'small.tar'], { cwd: dir })).code, 2);
  assert.equal((await runCli(['cat', 'small.tar', '-o', 'fresh-%d.tar'], { cwd: dir })).code, 0);
});

test('temporary shards are created exclusively under an unpredictable name: a planted symlink is never followed', async (t) => {
  const dir = tempDir(t);
  const victim = join(dir, 'victim');
  writeFileSync(victim, 'precious');
  const out = join(dir, 'out.tar');
  symlinkSync(victim, `${out}.tmp-${process.pid}`);
  await writeSink(fromArray([{ key: 'a', fields: { cls: Buffer.from('0') } }]), { output: out });
  assert.equal(readFileSync(victim, 'utf8'), 'precious');
  assert.equal(readlinkSync(`${out}.tmp-${process.pid}`), victim);
  assert.equal((await read(readFileSync(out))).length, 1);
});

// The pass-through fast path (chunks.ts, tar-read.ts, sink.ts): member data handed out as views of large
// read chunks, chunks joined across pipe reads, chunk reuse in transient mode, output batches reused,
// the word-at-a-time header checksum, and detachSample for stages that hold samples.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { CHUNK_BYTES, ChunkPool, streamChunks } from '../src/shards/chunks.js';
import { detachSample, openSource, readTar, tarBytes, type Sample } from '../src/shards/index.js';
import { headerSum } from '../src/shards/tar-format.js';
import { shuffle } from '../src/stages/shuffle.js';
import { runCli, runShell, tempDir } from './helpers/cli.js';
import { collect, fromArray } from './helpers/tar.js';

/** Deterministic samples with fields from 0 bytes to `maxSize` (sizes vary so members straddle every chunk boundary). */
function samples(prefix: string, n: number, maxSize: number, seed = 1): Sample[] {
  let x = seed;
  const next = () => (x = (x * 1103515245 + 12345) % 2 ** 31);
  return Array.from({ length: n }, (_, i) => {
    const size = next() % (maxSize + 1);
    const bin = Buffer.alloc(size);
    for (let j = 0; j < size; j += 997) bin[j] = next() & 0xff;
    return { key: `${prefix}/${String(i).padStart(5, '0')}`, fields: { bin, cls: Buffer.from(String(i % 10)) } };
  });
}

function digest(sample: Sample): string {
  const h = createHash('sha256').update(sample.key);
  for (const name of Object.keys(sample.fields).sort()) h.update(name).update(sample.fields[name]);
  return h.digest('hex');
}

test('headerSum (4 bytes at a time when aligned) equals the direct sum at every alignment', () => {
  const big = Buffer.alloc(4096);
  for (let t = 0; t < 400; t++) {
    const block = t % 5 === 0 ? Buffer.alloc(512, 0xff) : randomBytes(512);
    const at = 100 + (t % 9);
    block.copy(big, at);
    let direct = 0;
    for (let i = 0; i < 512; i++) direct += i >= 148 && i < 156 ? 0x20 : block[i];
    assert.equal(headerSum(big, at), direct, `offset ${at}`);
  }
});

test('member data within a chunk is a view of it (no copy); pipe-sized pieces are gathered into whole chunks', async () => {
  const all = samples('v', 60, 40_000);
  const bytes = await tarBytes(all);
  // One big chunk: every field is a view into it.
  const whole = Buffer.from(bytes);
  const fromWhole = await collect(readTar(Readable.from([whole]), 'mem.tar'));
  assert.deepEqual(fromWhole.map(digest), all.map(digest));
  assert.ok(fromWhole.every((s) => s.fields.bin.buffer === whole.buffer));
  // 64 KB pieces (as a pipe gives) through streamChunks: fields are views of pool chunks, even across piece seams.
  const pieces: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 65_536) pieces.push(bytes.subarray(i, i + 65_536));
  const pool = new ChunkPool(false);
  const fromPieces = await collect(readTar(streamChunks(Readable.from(pieces), pool), 'pipe', { pool }));
  assert.deepEqual(fromPieces.map(digest), all.map(digest));
  const views = fromPieces.filter((s) => s.fields.bin.buffer.byteLength === pool.chunkBytes).length;
  // Only members across a chunk boundary are copied (a few of 60).
  assert.ok(views >= all.length - Math.ceil(bytes.length / pool.chunkBytes) - 1, `${views} of ${all.length} are views`);
});

test('default mode: samples kept after reading stay intact (chunks are never reused)', async (t) => {
  const dir = tempDir(t);
  const all = samples('k', 300, 60_000, 7);
  writeFileSync(join(dir, 'a.tar'), await tarBytes(all.slice(0, 150)));
  writeFileSync(join(dir, 'b.tar'), await tarBytes(all.slice(150)));
  const kept = await collect(openSource([join(dir, 'a.tar'), join(dir, 'b.tar')]));
  assert.deepEqual(kept.map(digest), all.map(digest));
});

test('transient mode: each sample is intact when it is handed out, and read chunks are reused', async (t) => {
  const dir = tempDir(t);
  const all = samples('t', 400, 120_000, 3); // ~24 MB: many 1 MB chunks
  writeFileSync(join(dir, 'a.tar'), await tarBytes(all.slice(0, 250)));
  const rest = await tarBytes(all.slice(250));
  const seen: string[] = [];
  const buffers = new Set<ArrayBufferLike>();
  const stdin = Readable.from(Array.from({ length: Math.ceil(rest.length / 50_000) }, (_, i) => rest.subarray(i * 50_000, (i + 1) * 50_000)));
  for await (const sample of openSource([join(dir, 'a.tar'), '-'], { transient: true, stdin })) {
    seen.push(digest(sample)); // checked now: the bytes are valid until the next sample is asked for
    if (sample.fields.bin.buffer.byteLength === CHUNK_BYTES) buffers.add(sample.fields.bin.buffer);
  }
  assert.deepEqual(seen, all.map(digest));
  const chunksRead = Math.ceil((await tarBytes(all)).length / CHUNK_BYTES);
  assert.ok(buffers.size < chunksRead / 2, `${buffers.size} distinct chunk buffers for ~${chunksRead} chunks read`);
});

test('detachSample copies small views of large buffers and keeps the rest; shuffle holds detached samples', async () => {
  const big = Buffer.alloc(1 << 20, 7);
  const own = Buffer.from('own bytes');
  const s: Sample = { key: 'a', fields: { small: big.subarray(10, 1010), large: big.subarray(0, 600_000), own } };
  const d = detachSample(s);
  assert.notEqual(d.fields.small.buffer, big.buffer);
  assert.ok(d.fields.small.equals(s.fields.small));
  assert.equal(d.fields.large, s.fields.large);
  assert.equal(d.fields.own, own);
  assert.equal(s.fields.small.buffer, big.buffer, 'the input sample is not changed');
  const untouched: Sample = { key: 'b', fields: { own } };
  assert.equal(detachSample(untouched), untouched);

  const input = Array.from({ length: 20 }, (_, i): Sample => ({ key: `k${i}`, fields: { bin: big.subarray(i * 100, i * 100 + 100) } }));
  const out = await collect(shuffle({ buffer: 8, seed: 1 })(fromArray(input)));
  assert.deepEqual(out.map((x) => x.key).sort(), input.map((x) => x.key).sort());
  // Every sample shuffle held (all of them: the buffer fills first) no longer points into the 1 MB buffer.
  assert.ok(out.every((x) => x.fields.bin.buffer !== big.buffer && x.fields.bin.equals(input[Number(x.key.slice(1))].fields.bin)));
});

test('through the binary: multi-MB streams from files, a stdin pipe and a redirected file come out byte-identical', async (t) => {
  const dir = tempDir(t);
  const all = samples('b', 200, 150_000, 11); // ~15 MB: chunk and output batch reuse both happen
  // Fields larger than a read chunk and an output batch (copied across chunks, written from a buffer of their own).
  all[30].fields.big = Buffer.alloc(2_500_000, 0x5a);
  all[170].fields.big = Buffer.alloc(1 << 20, 0xa5);
  writeFileSync(join(dir, 'a.tar'), await tarBytes(all.slice(0, 120)));
  writeFileSync(join(dir, 'b.tar'), await tarBytes(all.slice(120)));
  const expected = createHash('sha256').update(await tarBytes(all)).digest('hex');
  const viaFiles = await runShell(`cd '${dir}' && $SYNTHAUG cat a.tar b.tar | sha256sum`);
  assert.equal(viaFiles.stdout.toString().split(' ')[0], expected, viaFiles.stderr);
  const viaPipe = await runShell(`cd '${dir}' && cat a.tar | $SYNTHAUG cat - b.tar | cat | sha256sum`);
  assert.equal(viaPipe.stdout.toString().split(' ')[0], expected, viaPipe.stderr);
  const viaRedirect = await runShell(`cd '${dir}' && $SYNTHAUG cat - b.tar < a.tar | sha256sum`);
  assert.equal(viaRedirect.stdout.toString().split(' ')[0], expected, viaRedirect.stderr);
  const toFile = await runCli(['cat', 'a.tar', 'b.tar', '-o', 'out.tar'], { cwd: dir });
  assert.equal(toFile.code, 0, toFile.stderr);
  const back = await runShell(`cd '${dir}' && sha256sum out.tar`);
  assert.equal(back.stdout.toString().split(' ')[0], expected);
});

// The safetensors reader/writer: round trips, byte-for-byte agreement with files written by an
// independent (Python) writer, half-precision decoding against known bit patterns, and clear
// errors naming the file for truncated or corrupt input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSafetensors, encodeSafetensors, readSafetensors, type NamedTensor } from '../src/nn/safetensors.js';
import { InputError } from '../src/errors.js';

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'models');

function header(buf: Buffer): { length: number; json: Record<string, unknown> } {
  const length = Number(buf.readBigUInt64LE(0));
  return { length, json: JSON.parse(buf.subarray(8, 8 + length).toString('utf8')) };
}

test('every writable dtype round-trips with its shape, values and metadata', () => {
  const tensors = new Map<string, NamedTensor>([
    ['z.f32', { dtype: 'F32', shape: [2, 3], data: Float32Array.from([1.5, -2, 3e-8, 0, 1e30, -0.25]) }],
    ['a.f64', { dtype: 'F64', shape: [2], data: Float64Array.from([Math.PI, -1e-300]) }],
    ['m.i64', { dtype: 'I64', shape: [], data: BigInt64Array.from([-(2n ** 40n)]) }],
    ['m.i32', { dtype: 'I32', shape: [3, 1], data: Int32Array.from([-7, 0, 2 ** 31 - 1]) }],
    ['b.u8', { dtype: 'U8', shape: [1, 1, 3], data: Uint8Array.from([0, 128, 255]) }],
    ['c.i8', { dtype: 'I8', shape: [2], data: Int8Array.from([-128, 127]) }],
    ['c.bool', { dtype: 'BOOL', shape: [2], data: Uint8Array.from([1, 0]) }],
    ['empty', { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) }],
  ]);
  const buf = encodeSafetensors(tensors, { note: 'hi', format: 'pt' });
  const { length, json } = header(buf);
  assert.equal((8 + length) % 8, 0, 'data starts 8-byte aligned');
  const names = Object.keys(json).filter((k) => k !== '__metadata__');
  assert.deepEqual(names, [...names].sort(), 'header keys sorted');
  const back = decodeSafetensors(buf);
  assert.deepEqual(back.metadata, { note: 'hi', format: 'pt' });
  assert.deepEqual([...back.tensors.keys()].sort(), [...tensors.keys()].sort());
  for (const [name, t] of tensors) {
    const r = back.tensors.get(name)!;
    assert.equal(r.dtype, t.dtype, name);
    assert.deepEqual(r.shape, t.shape, name);
    assert.equal(r.data.constructor, t.data.constructor, name);
    assert.deepEqual(Array.from(r.data as ArrayLike<unknown>), Array.from(t.data as ArrayLike<unknown>), name);
  }
  assert.deepEqual(encodeSafetensors(tensors, { note: 'hi', format: 'pt' }), buf, 'same tensors, same bytes');
});

test('files written by the Python fixture writer decode, and re-encode to the same bytes', () => {
  for (const file of ['resnet20_a.safetensors', 'vit.safetensors', 'vit.io.safetensors']) {
    const buf = readFileSync(join(FIXTURES, file));
    const { tensors, metadata } = decodeSafetensors(buf, file);
    assert.ok(tensors.size > 0);
    assert.deepEqual(encodeSafetensors(tensors, Object.keys(metadata).length ? metadata : undefined), buf, file);
  }
  const { tensors } = decodeSafetensors(readFileSync(join(FIXTURES, 'resnet20_a.safetensors')));
  const counter = tensors.get('bn1.num_batches_tracked')!;
  assert.equal(counter.dtype, 'I64');
  assert.deepEqual(counter.shape, []);
  assert.equal((counter.data as BigInt64Array)[0], 7n);
});

test('F16 and BF16 are widened to float32 exactly', () => {
  // IEEE binary16: 1, -2, 65504 (max), 2^-24 (smallest subnormal), 1/3 rounded, +inf, -0.
  const f16 = Uint16Array.from([0x3c00, 0xc000, 0x7bff, 0x0001, 0x3555, 0x7c00, 0x8000]);
  // bfloat16: 1, -2, 3.140625.
  const bf16 = Uint16Array.from([0x3f80, 0xc000, 0x4049]);
  const head = JSON.stringify({
    h: { dtype: 'F16', shape: [7], data_offsets: [0, 14] },
    b: { dtype: 'BF16', shape: [3], data_offsets: [14, 20] },
  });
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(head.length));
  const buf = Buffer.concat([len, Buffer.from(head), Buffer.from(f16.buffer), Buffer.from(bf16.buffer)]);
  const { tensors } = decodeSafetensors(buf);
  assert.deepEqual(Array.from(tensors.get('h')!.data as Float32Array), [1, -2, 65504, 2 ** -24, 0.333251953125, Infinity, -0]);
  assert.deepEqual(Array.from(tensors.get('b')!.data as Float32Array), [1, -2, 3.140625]);
});

test('truncated or corrupt files give an InputError naming the file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'synthaug-st-'));
  const good = encodeSafetensors(new Map([['w', { dtype: 'F32', shape: [4, 4], data: new Float32Array(16).fill(1) }]]));
  const { length } = header(good);
  const headerJson = (text: string) => {
    const l = Buffer.alloc(8);
    l.writeBigUInt64LE(BigInt(text.length));
    return Buffer.concat([l, Buffer.from(text), Buffer.alloc(64)]);
  };
  const cases: Array<[string, Buffer, RegExp]> = [
    ['truncated-data', good.subarray(0, good.length - 10), /truncated/],
    ['truncated-header', good.subarray(0, 8 + length - 5), /exceeds .*truncated/],
    ['too-short', good.subarray(0, 5), /only 5 bytes/],
    ['not-json', Buffer.concat([good.subarray(0, 8), Buffer.from('x'.repeat(length)), good.subarray(8 + length)]), /not JSON/],
    ['huge-header', Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0]), /larger than/],
    ['bad-dtype', headerJson('{"w":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}}'), /unsupported dtype "Q7"/],
    ['bad-size', headerJson('{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,64]}}'), /needs 12 bytes/],
    ['overlap', headerJson('{"a":{"dtype":"F32","shape":[16],"data_offsets":[0,64]},"b":{"dtype":"F32","shape":[4],"data_offsets":[16,32]}}'), /overlaps/],
    ['hole', headerJson('{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}'), /48 bytes after the last tensor/],
  ];
  for (const [name, bytes, pattern] of cases) {
    const path = join(dir, `${name}.safetensors`);
    writeFileSync(path, bytes);
    await assert.rejects(readSafetensors(path), (err: Error) => {
      assert.ok(err instanceof InputError, `${name}: ${err}`);
      assert.ok(err.message.includes(path), `${name}: message names the file: ${err.message}`);
      assert.match(err.message, pattern, name);
      return true;
    });
  }
  await assert.rejects(readSafetensors(join(dir, 'missing.safetensors')), /cannot read weights file .*missing\.safetensors/);
});

test('writing refuses data that does not match its dtype or shape', () => {
  assert.throws(() => encodeSafetensors(new Map([['w', { dtype: 'F32', shape: [3], data: new Float32Array(4) }]])), /shape \[3\] but 4 elements/);
  assert.throws(() => encodeSafetensors(new Map([['w', { dtype: 'I32', shape: [1], data: new Float32Array(1) }]])), /Float32Array, not a Int32Array/);
  assert.throws(() => encodeSafetensors(new Map([['w', { dtype: 'F16', shape: [1], data: new Float32Array(1) }]])), /cannot write dtype F16/);
});

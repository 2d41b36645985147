// The safe PyTorch checkpoint reader against files written by torch.save (fixtures/make_checkpoint_fixtures.py):
// both container formats, non-contiguous and shared-storage views, f16/f64/i64, nested dicts; and pickles that
// try to call code, which must be refused without running anything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { decodeTorchCheckpoint, readTorchCheckpoint } from '../src/nn/torch-checkpoint.js';
import { readPickle } from '../src/nn/pickle.js';
import { InputError } from '../src/errors.js';

const dir = fileURLToPath(new URL('../../fixtures/checkpoints/', import.meta.url));
const expected = JSON.parse(readFileSync(`${dir}expected.json`, 'utf8')) as Record<string, { shape: number[]; values: number[] }>;

for (const file of ['state_zip.pt', 'state_legacy.pt']) {
  test(`${file}: every tensor as torch.save wrote it`, async () => {
    const tensors = await readTorchCheckpoint(`${dir}${file}`);
    assert.deepEqual([...tensors.keys()].sort(), Object.keys(expected).sort());
    for (const [name, want] of Object.entries(expected)) {
      const got = tensors.get(name)!;
      assert.deepEqual(got.shape, want.shape, name);
      const values = Array.from(got.data as ArrayLike<number | bigint>, Number);
      assert.deepEqual(values, want.values.map((v) => (got.dtype === 'F32' ? Math.fround(v) : v)), name);
    }
    assert.equal(tensors.get('odd.half')!.dtype, 'F32');
    assert.equal(tensors.get('odd.double')!.dtype, 'F64');
    assert.equal(tensors.get('odd.long')!.dtype, 'I64');
    assert.equal(tensors.get('1.num_batches_tracked')!.dtype, 'I64');
  });
}

test('nested dicts flatten to dotted names; non-tensor leaves are skipped', async () => {
  const tensors = await readTorchCheckpoint(`${dir}nested_zip.pt`);
  assert.deepEqual([...tensors.keys()], ['model.w']);
  assert.deepEqual(Array.from(tensors.get('model.w')!.data as Float32Array), [1, 1, 1, 1]);
});

for (const [file, global] of [
  ['hostile_system.pt', 'posix.system'],
  ['hostile_eval.pt', '__builtin__.eval'],
  ['hostile_custom.pt', '__main__.Custom'],
]) {
  test(`${file}: refused, naming ${global}, and nothing runs`, async () => {
    rmSync('/tmp/synthaug-pwned', { force: true });
    await assert.rejects(readTorchCheckpoint(`${dir}${file}`), (err: Error) => {
      assert.ok(err instanceof InputError);
      assert.match(err.message, new RegExp(global.replace('.', '\\.')));
      assert.match(err.message, /refusing/);
      return true;
    });
    assert.equal(existsSync('/tmp/synthaug-pwned'), false);
  });
}

test('truncated, garbled and non-checkpoint files are InputErrors', async () => {
  const good = readFileSync(`${dir}state_zip.pt`);
  for (const buf of [good.subarray(0, good.length - 100), good.subarray(0, 40), Buffer.from('hello world'), readFileSync(`${dir}state_legacy.pt`).subarray(0, 900)]) {
    assert.throws(() => decodeTorchCheckpoint(buf, 'x.pt'), InputError);
  }
  await assert.rejects(readTorchCheckpoint('/nonexistent/w.pth'), /nonexistent\/w\.pth/);
});

test('pickle VM: hand-written opcodes (protocol 0 GLOBAL + REDUCE refused; plain data built)', () => {
  // "cos\nsystem\n(S'ls'\ntR." : protocol 0 call of os.system
  assert.throws(() => readPickle(Buffer.from("cos\nsystem\n(S'ls'\ntR.", 'latin1'), { globals: {}, source: 's' }), /refusing to load the Python object os\.system/);
  // {'a': [1, 2**70, -3.5, True, None, (b'xy',)]} pickled by CPython 3 protocol 4 (pickle.dumps)
  const hex = '8004952b000000000000007d948c0161945d94284b018a0900000000000000004047c00c000000000000884e4302787994859465732e';
  const { value } = readPickle(Buffer.from(hex, 'hex'), { globals: {}, source: 's' });
  const list = (value as Map<string, unknown[]>).get('a')!;
  assert.equal(list[0], 1);
  assert.equal(list[1], 2n ** 70n);
  assert.equal(list[2], -3.5);
  assert.equal(list[3], true);
  assert.equal(list[4], null);
  assert.deepEqual([...(list[5] as Buffer[])].map((b) => b.toString()), ['xy']);
});

test('convert-weights and --inception-weights check names against the FID network (exit 1 naming the file)', async () => {
  const { runCli } = await import('./helpers/cli.js');
  const wrong = `${dir}state_zip.pt`;
  const r = await runCli(['convert-weights', wrong, '-o', '/tmp/synthaug-never-written.safetensors']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /state_zip\.pt: weights do not match the architecture: missing \[Conv2d_1a_3x3\.conv\.weight/);
  assert.equal(existsSync('/tmp/synthaug-never-written.safetensors'), false);
  const f = await runCli(['fid', `${dir}`, `${dir}`, '--inception-weights', `${dir}hostile_system.pt`]);
  assert.equal(f.code, 1);
  assert.match(f.stderr, /refusing to load the Python object posix\.system/);
});

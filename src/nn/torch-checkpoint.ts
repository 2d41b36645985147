// Reads tensors from a PyTorch checkpoint (torch.save) without running any code: the pickle is interpreted by
// src/nn/pickle.ts with only these globals allowed:
//   torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]) → a tensor
//   torch._utils._rebuild_parameter(tensor, requires_grad, hooks)                                   → the tensor
//   torch.<Type>Storage (FloatStorage, HalfStorage, LongStorage, ...)  → a storage type tag
//   collections.OrderedDict → a dict (its `_metadata` attribute, set by BUILD, is ignored)
// Anything else (a module object, numpy arrays, a lambda...) is an InputError naming the global.
//
// Two container formats:
//   zip (torch ≥ 1.6 default): <root>/data.pkl, storages in <root>/data/<key>; persistent ids are
//     ('storage', type, key, location, numel);
//   legacy (_use_new_zipfile_serialization=False): five concatenated pickles — magic 0x1950a86a20f9469cfc6c,
//     protocol version, system info, the object (persistent ids ('storage', type, key, location, numel,
//     view_metadata)), the list of storage keys — then for each key in that list an int64 element count and the
//     storage's raw bytes.
// Storages are little-endian; the result is the checkpoint's tensors by dotted name (nested dicts flattened,
// non-tensor leaves skipped), each contiguous in row-major order.
import { InputError, readInputFile } from '../errors.js';
import { PickleTuple, readPickle, type PickleGlobal } from './pickle.js';
import type { NamedTensor, TensorData } from './safetensors.js';
import { readZipDirectory, readZipEntry } from './zip.js';

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/** Element dtype of each torch storage type, as a safetensors dtype name and its byte size. */
const STORAGE_TYPES: Record<string, { dtype: string; size: number }> = {
  FloatStorage: { dtype: 'F32', size: 4 },
  DoubleStorage: { dtype: 'F64', size: 8 },
  HalfStorage: { dtype: 'F16', size: 2 },
  BFloat16Storage: { dtype: 'BF16', size: 2 },
  LongStorage: { dtype: 'I64', size: 8 },
  IntStorage: { dtype: 'I32', size: 4 },
  ShortStorage: { dtype: 'I16', size: 2 },
  CharStorage: { dtype: 'I8', size: 1 },
  ByteStorage: { dtype: 'U8', size: 1 },
  BoolStorage: { dtype: 'BOOL', size: 1 },
};

interface StorageType {
  kind: 'storage-type';
  dtype: string;
  size: number;
}

/** A storage whose bytes are found later (legacy format) or at once (zip). */
interface StorageRef {
  kind: 'storage';
  type: StorageType;
  key: string;
  bytes?: Buffer;
}

/** A tensor as the pickle describes it, materialised once every storage is known. */
interface TensorRef {
  kind: 'tensor';
  storage: StorageRef;
  offset: number;
  size: number[];
  stride: number[];
}

export async function readTorchCheckpoint(path: string): Promise<Map<string, NamedTensor>> {
  return decodeTorchCheckpoint(await readInputFile(path, 'checkpoint'), path);
}

/** The tensors of a torch.save file held in `buf` (zip or legacy format). */
export function decodeTorchCheckpoint(buf: Buffer, source = '<buffer>'): Map<string, NamedTensor> {
  const isZip = buf.length >= 4 && buf.readUInt32LE(0) === 0x04034b50;
  const root = isZip ? readZipCheckpoint(buf, source) : readLegacyCheckpoint(buf, source);
  const out = new Map<string, NamedTensor>();
  flatten(root, '', out, source);
  if (out.size === 0) throw new InputError(`${source}: the checkpoint holds no tensors`);
  return out;
}

function globals(source: string): Record<string, PickleGlobal> {
  const g: Record<string, PickleGlobal> = {
    'collections.OrderedDict': { call: () => new Map(), build: () => undefined },
    'torch._utils._rebuild_tensor_v2': { call: (args) => rebuildTensor(args, source) },
    'torch._utils._rebuild_tensor': { call: (args) => rebuildTensor(args, source) },
    'torch._utils._rebuild_parameter': {
      call: (args) => {
        if (!isTensorRef(args[0])) throw new InputError(`${source}: _rebuild_parameter of something that is not a tensor`);
        return args[0];
      },
    },
  };
  for (const [name, t] of Object.entries(STORAGE_TYPES)) {
    const tag: StorageType = { kind: 'storage-type', ...t };
    g[`torch.${name}`] = { call: () => tag };
    storageTags.set(g[`torch.${name}`], tag);
  }
  return g;
}

// A GLOBAL torch.FloatStorage pushes the PickleGlobal itself; persistent ids map it back to its tag.
const storageTags = new WeakMap<PickleGlobal, StorageType>();

function isTensorRef(v: unknown): v is TensorRef {
  return typeof v === 'object' && v !== null && (v as TensorRef).kind === 'tensor';
}

function intList(v: unknown, what: string, source: string): number[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0)) {
    throw new InputError(`${source}: tensor ${what} is not a tuple of non-negative integers`);
  }
  return v as number[];
}

function rebuildTensor(args: unknown[], source: string): TensorRef {
  const [storage, offset, size, stride] = args;
  if (typeof storage !== 'object' || storage === null || (storage as StorageRef).kind !== 'storage') {
    throw new InputError(`${source}: tensor rebuilt from something that is not a storage`);
  }
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0) throw new InputError(`${source}: bad tensor storage offset`);
  return { kind: 'tensor', storage: storage as StorageRef, offset, size: intList(size, 'size', source), stride: intList(stride, 'stride', source) };
}

/** ('storage', type, key, location, numel[, view_metadata]) → a StorageRef (same key → same object). */
function storageLoader(source: string, fetch: (key: string, type: StorageType) => Buffer | undefined) {
  const seen = new Map<string, StorageRef>();
  return (pid: unknown): StorageRef => {
    if (!(pid instanceof PickleTuple) || pid[0] !== 'storage' || pid.length < 5) {
      throw new InputError(`${source}: unsupported persistent id in the checkpoint (only tensor storages are read)`);
    }
    const tag = storageTags.get(pid[1] as PickleGlobal);
    if (!tag) throw new InputError(`${source}: storage of an unknown type`);
    const key = String(pid[2]);
    let ref = seen.get(key);
    if (!ref) {
      ref = { kind: 'storage', type: tag, key, bytes: fetch(key, tag) };
      seen.set(key, ref);
    }
    return ref;
  };
}

function readZipCheckpoint(buf: Buffer, source: string): unknown {
  const entries = readZipDirectory(buf, source);
  const pkl = [...entries.keys()].find((n) => n.endsWith('/data.pkl') && n.split('/').length === 2);
  if (!pkl) throw new InputError(`${source}: a ZIP file but not a PyTorch checkpoint (no <name>/data.pkl)`);
  const prefix = pkl.slice(0, -'data.pkl'.length);
  const byteorder = entries.get(`${prefix}byteorder`);
  if (byteorder && readZipEntry(buf, byteorder, source).toString('latin1') !== 'little') {
    throw new InputError(`${source}: big-endian checkpoints are not supported`);
  }
  const persistentLoad = storageLoader(source, (key) => {
    const e = entries.get(`${prefix}data/${key}`);
    if (!e) throw new InputError(`${source}: storage ${key} is missing from the archive`);
    return readZipEntry(buf, e, source);
  });
  return readPickle(readZipEntry(buf, entries.get(pkl)!, source), { globals: globals(source), persistentLoad, source }).value;
}

function readLegacyCheckpoint(buf: Buffer, source: string): unknown {
  const plain = { globals: {}, source };
  let at = 0;
  let magic: unknown;
  try {
    const first = readPickle(buf, plain, 0);
    magic = first.value;
    at = first.end;
  } catch {
    magic = undefined;
  }
  if (magic !== LEGACY_MAGIC) throw new InputError(`${source}: not a PyTorch checkpoint (neither a ZIP archive nor the legacy torch.save format)`);
  at = readPickle(buf, plain, at).end; // protocol version
  at = readPickle(buf, { ...plain, globals: {} }, at).end; // sys_info dict
  const refs: StorageRef[] = [];
  const load = storageLoader(source, () => undefined);
  const main = readPickle(buf, {
    globals: globals(source),
    persistentLoad: (pid) => {
      const ref = load(pid);
      refs.push(ref);
      return ref;
    },
    source,
  }, at);
  const keys = readPickle(buf, plain, main.end);
  if (!Array.isArray(keys.value)) throw new InputError(`${source}: legacy checkpoint has no storage key list`);
  const byKey = new Map(refs.map((r) => [r.key, r]));
  let p = keys.end;
  for (const key of keys.value as unknown[]) {
    if (p + 8 > buf.length) throw new InputError(`${source}: checkpoint is cut (storage ${String(key)})`);
    const ref = byKey.get(String(key));
    const numel = Number(buf.readBigInt64LE(p));
    p += 8;
    const elem = ref?.type.size ?? 1;
    if (numel < 0 || p + numel * elem > buf.length) throw new InputError(`${source}: checkpoint is cut (storage ${String(key)})`);
    if (ref) ref.bytes = buf.subarray(p, p + numel * elem);
    p += numel * elem;
  }
  return main.value;
}

function flatten(v: unknown, prefix: string, out: Map<string, NamedTensor>, source: string): void {
  if (isTensorRef(v)) {
    out.set(prefix, materialise(v, prefix, source));
  } else if (v instanceof Map) {
    for (const [k, x] of v) flatten(x, prefix ? `${prefix}.${String(k)}` : String(k), out, source);
  }
}

/** Gathers the strided view into a contiguous row-major array; F16/BF16 are widened to float32. */
function materialise(t: TensorRef, name: string, source: string): NamedTensor {
  const { type, bytes } = t.storage;
  if (!bytes) throw new InputError(`${source}: the data of tensor ${name} is missing`);
  const n = t.size.reduce((a, b) => a * b, 1);
  if (t.stride.length !== t.size.length) throw new InputError(`${source}: tensor ${name} has ${t.size.length} sizes but ${t.stride.length} strides`);
  const available = Math.floor(bytes.length / type.size);
  const last = n === 0 ? t.offset : t.offset + t.size.reduce((s, d, i) => s + (d - 1) * t.stride[i], 0);
  if (last >= available && n > 0) throw new InputError(`${source}: tensor ${name} reaches past the end of its storage`);
  const aligned = Buffer.from(bytes); // copy: storage views are not aligned to the element size
  const src = elementView(aligned, type.dtype);
  const dtype = type.dtype === 'F16' || type.dtype === 'BF16' ? 'F32' : type.dtype;
  const Out = (src as unknown as { constructor: new (n: number) => TensorData }).constructor;
  const data = dtype === 'F32' ? new Float32Array(n) : new Out(n);
  const rank = t.size.length;
  const idx = new Array<number>(rank).fill(0);
  for (let i = 0; i < n; i++) {
    let off = t.offset;
    for (let d = 0; d < rank; d++) off += idx[d] * t.stride[d];
    (data as Float32Array)[i] = (src as Float32Array)[off];
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d] < t.size[d]) break;
      idx[d] = 0;
    }
  }
  return { dtype, shape: [...t.size], data };
}

function elementView(b: Buffer, dtype: string): TensorData | Float32Array {
  const ab = b.buffer.slice(b.byteOffset, b.byteOffset + b.length);
  switch (dtype) {
    case 'F32':
      return new Float32Array(ab, 0, b.length >> 2);
    case 'F64':
      return new Float64Array(ab, 0, b.length >> 3);
    case 'I64':
      return new BigInt64Array(ab, 0, b.length >> 3);
    case 'I32':
      return new Int32Array(ab, 0, b.length >> 2);
    case 'I16':
      return new Int16Array(ab, 0, b.length >> 1);
    case 'I8':
      return new Int8Array(ab);
    case 'U8':
    case 'BOOL':
      return new Uint8Array(ab);
    case 'F16':
    case 'BF16': {
      const h = new Uint16Array(ab, 0, b.length >> 1);
      const f = new Float32Array(h.length);
      for (let i = 0; i < h.length; i++) f[i] = dtype === 'BF16' ? bf16(h[i]) : f16(h[i]);
      return f;
    }
    default:
      throw new Error(`unknown dtype ${dtype}`);
  }
}

const f32scratch = new Float32Array(1);
const u32scratch = new Uint32Array(f32scratch.buffer);
function bf16(h: number): number {
  u32scratch[0] = h << 16;
  return f32scratch[0];
}
function f16(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

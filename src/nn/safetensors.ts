// The safetensors format (huggingface/safetensors), read and written without dependencies:
//   8 bytes  little-endian u64 N, the header length
//   N bytes  UTF-8 JSON: {"__metadata__": {str: str}, "<name>": {"dtype", "shape", "data_offsets": [begin, end]}, ...}
//            (offsets relative to the data section), padded with spaces so the data starts 8-byte aligned
//   rest     the tensors' raw little-endian bytes, back to back, covering the data section exactly
// Written files list tensors in sorted name order, so the same tensors give the same bytes.
// Read: F64, F32, F16 and BF16 (widened to Float32Array), I64, I32, I16, I8, U8, BOOL.
// Written: F64, F32, I64, I32, I16, I8, U8, BOOL.
import { endianness } from 'node:os';
import { InputError, readInputFile } from '../errors.js';

export type TensorData = Float64Array | Float32Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

export interface NamedTensor {
  /** Safetensors dtype name: F32, F16, I64... (F16/BF16 tensors are read into a Float32Array). */
  dtype: string;
  shape: number[];
  data: TensorData;
}

export interface Safetensors {
  tensors: Map<string, NamedTensor>;
  metadata: Record<string, string>;
}

const ELEMENT_SIZE: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

/** The array type each writable dtype is stored from. */
const WRITE_TYPE: Record<string, new (n: number) => TensorData> = {
  F64: Float64Array, F32: Float32Array, I64: BigInt64Array, I32: Int32Array, I16: Int16Array, I8: Int8Array, U8: Uint8Array, BOOL: Uint8Array,
};

/** Upper bound on the header, as the reference implementation (100 MB). */
const MAX_HEADER = 100_000_000;

function assertLittleEndianHost(): void {
  if (endianness() !== 'LE') throw new Error('safetensors: big-endian hosts are not supported');
}

function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function encodeSafetensors(tensors: Map<string, NamedTensor>, metadata?: Record<string, string>): Buffer {
  assertLittleEndianHost();
  const names = [...tensors.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const entries: string[] = [];
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new Error(`safetensors metadata ${k} must be a string, not ${typeof v}`);
    }
    entries.push(`"__metadata__":${JSON.stringify(metadata)}`);
  }
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const name of names) {
    if (name === '__metadata__') throw new Error('a tensor cannot be named __metadata__');
    const t = tensors.get(name)!;
    const Type = WRITE_TYPE[t.dtype];
    if (!Type) throw new Error(`safetensors: cannot write dtype ${t.dtype} (tensor ${name}); writable: ${Object.keys(WRITE_TYPE).join(', ')}`);
    if (!(t.data instanceof Type)) throw new Error(`safetensors: tensor ${name} has dtype ${t.dtype} but its data is a ${t.data.constructor.name}, not a ${Type.name}`);
    if (!t.shape.every((d) => Number.isInteger(d) && d >= 0) || numel(t.shape) !== t.data.length) {
      throw new Error(`safetensors: tensor ${name} has shape [${t.shape}] but ${t.data.length} elements`);
    }
    const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    entries.push(`${JSON.stringify(name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${offset + bytes.length}]}`);
    chunks.push(bytes);
    offset += bytes.length;
  }
  let header = `{${entries.join(',')}}`;
  const headerBytes = Buffer.byteLength(header, 'utf8');
  header += ' '.repeat((8 - ((8 + headerBytes) % 8)) % 8);
  const headerBuf = Buffer.from(header, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerBuf.length));
  return Buffer.concat([len, headerBuf, ...chunks]);
}

/** Half-precision bits → number (IEEE 754 binary16). */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function readData(dtype: string, bytes: Buffer): TensorData {
  // Copy into a fresh, aligned buffer: offsets inside a file need not be aligned to the element size.
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  switch (dtype) {
    case 'F64': return new Float64Array(copy.buffer);
    case 'F32': return new Float32Array(copy.buffer);
    case 'I64': return new BigInt64Array(copy.buffer);
    case 'I32': return new Int32Array(copy.buffer);
    case 'I16': return new Int16Array(copy.buffer);
    case 'I8': return new Int8Array(copy.buffer);
    case 'U8': case 'BOOL': return copy;
    case 'F16': return Float32Array.from(new Uint16Array(copy.buffer), halfToFloat);
    case 'BF16': {
      const bits = new Uint16Array(copy.buffer);
      const wide = new Uint32Array(bits.length);
      for (let i = 0; i < bits.length; i++) wide[i] = bits[i] << 16;
      return new Float32Array(wide.buffer);
    }
    default: throw new Error(`unreachable dtype ${dtype}`);
  }
}

/**
 * Parses a safetensors file held in memory. Every inconsistency (truncation, a bad header, offsets
 * outside the data or leaving holes) is an InputError naming `source`.
 */
export function decodeSafetensors(buf: Buffer, source = '<buffer>'): Safetensors {
  assertLittleEndianHost();
  const fail = (why: string): never => {
    throw new InputError(`${source}: not a valid safetensors file: ${why}`);
  };
  if (buf.length < 8) fail(`only ${buf.length} bytes (truncated?)`);
  const n = buf.readBigUInt64LE(0);
  if (n > BigInt(MAX_HEADER)) fail(`header length ${n} is larger than ${MAX_HEADER} bytes`);
  if (Number(n) > buf.length - 8) fail(`header length ${n} exceeds the ${buf.length - 8} bytes after the length field (truncated?)`);
  let header: unknown;
  try {
    header = JSON.parse(buf.subarray(8, 8 + Number(n)).toString('utf8'));
  } catch (err) {
    fail(`the header is not JSON (${(err as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('the header is not a JSON object');
  const dataStart = 8 + Number(n);
  const dataLen = buf.length - dataStart;
  const metadata: Record<string, string> = {};
  const spans: Array<{ name: string; begin: number; end: number }> = [];
  const tensors = new Map<string, NamedTensor>();
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__.${k} is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const e = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (e === null || typeof e !== 'object') fail(`entry ${name} is not an object`);
    const dtype = e.dtype;
    if (typeof dtype !== 'string' || !(dtype in ELEMENT_SIZE)) fail(`tensor ${name} has unsupported dtype ${JSON.stringify(dtype)}`);
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`tensor ${name} has a bad shape ${JSON.stringify(shape)}`);
    const offsets = e.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
      fail(`tensor ${name} has bad data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    const expected = numel(shape as number[]) * ELEMENT_SIZE[dtype as string];
    if (end - begin !== expected) fail(`tensor ${name} (${dtype} [${shape}]) needs ${expected} bytes but data_offsets span ${end - begin}`);
    if (end > dataLen) fail(`tensor ${name} ends at byte ${end} of the data but only ${dataLen} bytes follow the header (truncated?)`);
    spans.push({ name, begin, end });
    tensors.set(name, { dtype: dtype as string, shape: shape as number[], data: readData(dtype as string, buf.subarray(dataStart + begin, dataStart + end)) });
  }
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const s of spans) {
    if (s.begin !== covered) fail(s.begin < covered ? `tensor ${s.name} overlaps another tensor` : `a gap of ${s.begin - covered} bytes precedes tensor ${s.name}`);
    covered = s.end;
  }
  if (covered !== dataLen) fail(`${dataLen - covered} bytes after the last tensor are not described by the header`);
  return { tensors, metadata };
}

/** Reads and parses a safetensors file; errors name the path. */
export async function readSafetensors(path: string): Promise<Safetensors> {
  return decodeSafetensors(await readInputFile(path, 'weights file'), path);
}

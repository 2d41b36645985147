// numpy's .npy and .npz formats (numpy/lib/format.py, NEP 1): an .npy file is the magic "\x93NUMPY", a version
// (1.0: u16 header length; 2.0/3.0: u32), an ASCII Python dict literal {'descr': '<f8', 'fortran_order': False,
// 'shape': (2048, 2048), } padded with spaces and a newline to a multiple of 64 bytes, then the raw data.
// An .npz file is a ZIP of NAME.npy entries (np.savez stores them, np.savez_compressed deflates them).
// Read: little-endian f8, f4, i8, i4 (as Float64Array, Float32Array, BigInt64Array, Int32Array), C or Fortran order.
// Written: f8 and i8, C order, version 1.0, stored.
import { writeFileAtomic } from '../util/atomic.js';
import { InputError, readInputFile } from '../errors.js';
import { readZipDirectory, readZipEntry, writeZip } from './zip.js';

export type NpyData = Float64Array | Float32Array | BigInt64Array | Int32Array;

export interface NpyArray {
  shape: number[];
  data: NpyData;
}

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

const DESCR: Record<string, { Type: new (b: ArrayBuffer, o: number, n: number) => NpyData; size: number }> = {
  '<f8': { Type: Float64Array, size: 8 },
  '<f4': { Type: Float32Array, size: 4 },
  '<i8': { Type: BigInt64Array, size: 8 },
  '<i4': { Type: Int32Array, size: 4 },
};

export function encodeNpy(array: NpyArray): Buffer {
  const descr = array.data instanceof Float64Array ? '<f8' : array.data instanceof BigInt64Array ? '<i8' : undefined;
  if (!descr) throw new Error('npy writer: only float64 and int64 arrays are written');
  const shape = array.shape.length === 1 ? `(${array.shape[0]},)` : `(${array.shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = MAGIC.length + 2 + 2 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  MAGIC.copy(pre);
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const data = Buffer.from(array.data.buffer, array.data.byteOffset, array.data.byteLength);
  return Buffer.concat([pre, Buffer.from(header, 'latin1'), data]);
}

export function decodeNpy(buf: Buffer, source: string): NpyArray {
  const bad = (what: string) => new InputError(`${source}: not a readable .npy array (${what})`);
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) throw bad('no \\x93NUMPY magic');
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  if (start + headerLen > buf.length) throw bad('cut header');
  const header = buf.toString('latin1', start, start + headerLen);
  const descr = /'descr':\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1] === 'True';
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || shapeText === undefined) throw bad(`header ${JSON.stringify(header.trim())}`);
  const kind = DESCR[descr === '<f8' || descr === 'f8' ? '<f8' : descr];
  if (!kind) throw bad(`dtype ${descr} (read: <f8, <f4, <i8, <i4)`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw bad(`shape (${shapeText})`);
  const n = shape.reduce((a, b) => a * b, 1);
  const offset = start + headerLen;
  if (offset + n * kind.size > buf.length) throw bad('data is cut');
  const copy = buf.buffer.slice(buf.byteOffset + offset, buf.byteOffset + offset + n * kind.size);
  let data = new kind.Type(copy as ArrayBuffer, 0, n);
  if (fortran && shape.length > 1) data = toCOrder(data, shape);
  return { shape, data };
}

/** Column-major (Fortran) → row-major. */
function toCOrder(data: NpyData, shape: number[]): NpyData {
  const out = new (data.constructor as new (n: number) => NpyData)(data.length);
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  for (let i = 0; i < data.length; i++) {
    // i walks C order; the Fortran offset has the first axis fastest
    let f = 0;
    let stride = 1;
    for (let d = 0; d < rank; d++) {
      f += idx[d] * stride;
      stride *= shape[d];
    }
    (out as Float64Array)[i] = (data as Float64Array)[f];
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

/** The arrays of an .npz file by name (without the .npy suffix). */
export async function readNpz(path: string): Promise<Map<string, NpyArray>> {
  const buf = await readInputFile(path, 'statistics file');
  const out = new Map<string, NpyArray>();
  for (const entry of readZipDirectory(buf, path).values()) {
    if (!entry.name.endsWith('.npy')) continue;
    out.set(entry.name.slice(0, -4), decodeNpy(readZipEntry(buf, entry, path), `${path}:${entry.name}`));
  }
  return out;
}

/** Writes an .npz (as np.savez: stored entries) atomically: a temporary file renamed into place. */
export async function writeNpz(path: string, arrays: Map<string, NpyArray>): Promise<void> {
  const zip = writeZip([...arrays].map(([name, a]) => ({ name: `${name}.npy`, data: encodeNpy(a) })));
  await writeFileAtomic(path, zip);
}

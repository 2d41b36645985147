// A safe reader for Python pickles (protocols 0–5, the opcodes of CPython's Lib/pickletools.py): a small stack
// machine that interprets the opcodes and builds plain values. It never executes code. The only callables
// are the ones the caller allows by name (`globals`); any other GLOBAL/STACK_GLOBAL is refused with an error
// naming it, and REDUCE/NEWOBJ/BUILD apply only to those allowed callables and to dicts.
//
// Values: None → null, bool, int → number (a bigint beyond 2^53), float, str, bytes → Buffer, list → array,
// tuple → PickleTuple (a frozen array), dict → Map.
import { InputError } from '../errors.js';

/** A Python tuple: an array marked as such (tuples and lists differ for torch's rebuild arguments). */
export class PickleTuple extends Array<unknown> {}

/** An allowed global: called by REDUCE/NEWOBJ with the argument tuple; `build` handles BUILD's state, if any. */
export interface PickleGlobal {
  call(args: unknown[]): unknown;
  build?(obj: unknown, state: unknown): void;
}

export interface PickleOptions {
  /** Allowed globals by "module.name". */
  globals: Record<string, PickleGlobal>;
  /** BINPERSID/PERSID: the persistent id (a value) → the object. Without it, persistent ids are refused. */
  persistentLoad?: (pid: unknown) => unknown;
  /** Names the input in errors. */
  source: string;
}

const MARK = Symbol('mark');

function tuple(items: unknown[]): PickleTuple {
  const t = new PickleTuple();
  t.push(...items);
  return t;
}

/** Runs the pickle in `buf` from `start` to its STOP; returns the value and the offset after STOP. */
export function readPickle(buf: Buffer, opts: PickleOptions, start = 0): { value: unknown; end: number } {
  const fail = (msg: string): never => {
    throw new InputError(`${opts.source}: ${msg}`);
  };
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let p = start;
  const need = (n: number) => {
    if (p + n > buf.length) fail('pickle data is cut (truncated file)');
  };
  const u8 = () => (need(1), buf[p++]);
  const u16 = () => (need(2), (p += 2), buf.readUInt16LE(p - 2));
  const u32 = () => (need(4), (p += 4), buf.readUInt32LE(p - 4));
  const i32 = () => (need(4), (p += 4), buf.readInt32LE(p - 4));
  const u64 = () => {
    need(8);
    const v = buf.readBigUInt64LE(p);
    p += 8;
    if (v > BigInt(buf.length)) fail('pickle length field larger than the file');
    return Number(v);
  };
  const bytes = (n: number) => (need(n), (p += n), buf.subarray(p - n, p));
  const line = () => {
    const end = buf.indexOf(0x0a, p);
    if (end < 0) fail('pickle data is cut (no newline)');
    const s = buf.toString('latin1', p, end);
    p = end + 1;
    return s;
  };
  const pop = () => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1])) fail('pickle stack underflow');
    return stack.pop();
  };
  const top = () => {
    if (stack.length === 0) fail('pickle stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = () => {
    const m = marks.pop();
    if (m === undefined) fail('pickle MARK missing');
    return stack.splice(m!);
  };
  const memoGet = (i: number) => {
    if (!memo.has(i)) fail(`pickle memo entry ${i} is missing`);
    return memo.get(i);
  };
  const global = (module: string, name: string) => {
    const key = `${module}.${name}`;
    const g = opts.globals[key];
    if (!g) fail(`refusing to load the Python object ${key}: only tensors and plain containers are read (no code is ever run)`);
    return g;
  };
  const callGlobal = (fn: unknown, args: unknown) => {
    if (!isGlobal(fn)) fail(`pickle calls something that is not an allowed global (${describe(fn)})`);
    if (!Array.isArray(args)) fail('pickle call arguments are not a tuple');
    const made = (fn as PickleGlobal).call(args as unknown[]);
    if ((fn as PickleGlobal).build && made && typeof made === 'object') builders.set(made, fn as PickleGlobal);
    return made;
  };
  const builders = new WeakMap<object, PickleGlobal>();
  const globalObjects = new Set<PickleGlobal>(Object.values(opts.globals));
  const isGlobal = (v: unknown): v is PickleGlobal => globalObjects.has(v as PickleGlobal);
  const setItems = (dict: unknown, items: unknown[]) => {
    if (!(dict instanceof Map)) fail(`pickle SETITEM(S) on ${describe(dict)}, not a dict`);
    for (let i = 0; i + 1 < items.length; i += 2) (dict as Map<unknown, unknown>).set(keyOf(items[i]), items[i + 1]);
  };
  const appendItems = (list: unknown, items: unknown[]) => {
    if (!Array.isArray(list) || list instanceof PickleTuple) fail(`pickle APPEND(S) on ${describe(list)}, not a list`);
    (list as unknown[]).push(...items);
  };

  for (;;) {
    const op = String.fromCharCode(u8());
    switch (op) {
      case '\x80': // PROTO
        if (u8() > 5) fail('pickle protocol above 5');
        break;
      case '\x95': // FRAME
        u64();
        break;
      case '.': // STOP
        if (stack.length !== 1) fail(`pickle ends with ${stack.length} values on the stack`);
        return { value: stack[0], end: p };
      case '(': // MARK
        marks.push(stack.length);
        break;
      case '0': // POP
        if (marks.length && stack.length === marks[marks.length - 1]) marks.pop();
        else pop();
        break;
      case '1': // POP_MARK
        popMark();
        break;
      case '2': // DUP
        stack.push(top());
        break;
      case 'N':
        stack.push(null);
        break;
      case '\x88':
        stack.push(true);
        break;
      case '\x89':
        stack.push(false);
        break;
      case 'J': // BININT
        stack.push(i32());
        break;
      case 'K': // BININT1
        stack.push(u8());
        break;
      case 'M': // BININT2
        stack.push(u16());
        break;
      case 'I': {
        // INT (text): 00/01 are False/True in protocol 0
        const s = line();
        stack.push(s === '00' ? false : s === '01' ? true : parseIntText(s, fail));
        break;
      }
      case 'L': // LONG (text)
        stack.push(parseIntText(line().replace(/L$/, ''), fail));
        break;
      case '\x8a': // LONG1
        stack.push(decodeLong(bytes(u8())));
        break;
      case '\x8b': // LONG4
        stack.push(decodeLong(bytes(u32())));
        break;
      case 'G': // BINFLOAT (big-endian double)
        need(8);
        stack.push(buf.readDoubleBE(p));
        p += 8;
        break;
      case 'F':
        stack.push(Number(line()));
        break;
      case 'X': // BINUNICODE
        stack.push(bytes(u32()).toString('utf8'));
        break;
      case '\x8c': // SHORT_BINUNICODE
        stack.push(bytes(u8()).toString('utf8'));
        break;
      case '\x8d': // BINUNICODE8
        stack.push(bytes(u64()).toString('utf8'));
        break;
      case 'T': // BINSTRING (py2 str)
        stack.push(bytes(u32()).toString('latin1'));
        break;
      case 'U': // SHORT_BINSTRING
        stack.push(bytes(u8()).toString('latin1'));
        break;
      case 'B': // BINBYTES
        stack.push(Buffer.from(bytes(u32())));
        break;
      case 'C': // SHORT_BINBYTES
        stack.push(Buffer.from(bytes(u8())));
        break;
      case '\x8e': // BINBYTES8
        stack.push(Buffer.from(bytes(u64())));
        break;
      case '}': // EMPTY_DICT
        stack.push(new Map());
        break;
      case ']': // EMPTY_LIST
        stack.push([]);
        break;
      case ')': // EMPTY_TUPLE
        stack.push(tuple([]));
        break;
      case 'd': // DICT
        {
          const items = popMark();
          const d = new Map();
          setItems(d, items);
          stack.push(d);
        }
        break;
      case 'l': // LIST
        stack.push(popMark());
        break;
      case 't': // TUPLE
        stack.push(tuple(popMark()));
        break;
      case '\x85':
        stack.push(tuple([pop()]));
        break;
      case '\x86': {
        const b = pop();
        const a = pop();
        stack.push(tuple([a, b]));
        break;
      }
      case '\x87': {
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push(tuple([a, b, c]));
        break;
      }
      case 's': {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 'u': {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 'a': {
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 'e': {
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 'q': // BINPUT
        memo.set(u8(), top());
        break;
      case 'r': // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 'p': // PUT (text)
        memo.set(parseIntText(line(), fail) as number, top());
        break;
      case '\x94': // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 'h':
        stack.push(memoGet(u8()));
        break;
      case 'j':
        stack.push(memoGet(u32()));
        break;
      case 'g':
        stack.push(memoGet(parseIntText(line(), fail) as number));
        break;
      case 'c': {
        // GLOBAL "module\nname\n"
        const module = line();
        const name = line();
        stack.push(global(module, name));
        break;
      }
      case '\x93': {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('pickle STACK_GLOBAL needs two strings');
        stack.push(global(module as string, name as string));
        break;
      }
      case 'R': {
        // REDUCE
        const args = pop();
        const fn = pop();
        stack.push(callGlobal(fn, args));
        break;
      }
      case '\x81': {
        // NEWOBJ
        const args = pop();
        const cls = pop();
        stack.push(callGlobal(cls, args));
        break;
      }
      case 'b': {
        // BUILD: only on objects made by an allowed global that accepts state, or on dicts (attribute state ignored)
        const state = pop();
        const obj = top();
        const maker = builders.get(obj as object);
        if (maker?.build) maker.build(obj, state);
        else if (!(obj instanceof Map)) fail(`pickle BUILD on ${describe(obj)} is not allowed`);
        break;
      }
      case 'Q': {
        // BINPERSID
        const pid = pop();
        if (!opts.persistentLoad) fail('pickle refers to external data (persistent id) but none is allowed here');
        stack.push(opts.persistentLoad!(pid));
        break;
      }
      default:
        fail(`pickle opcode 0x${op.charCodeAt(0).toString(16).padStart(2, '0')} at byte ${p - 1} is not supported (only plain data is read)`);
    }
  }
}

function keyOf(k: unknown): unknown {
  return typeof k === 'bigint' && k >= BigInt(Number.MIN_SAFE_INTEGER) && k <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(k) : k;
}

function parseIntText(s: string, fail: (m: string) => never): number | bigint {
  if (!/^-?\d+$/.test(s)) fail(`pickle integer ${JSON.stringify(s)} is malformed`);
  const b = BigInt(s);
  return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
}

/** Two's-complement little-endian integer (LONG1/LONG4). */
function decodeLong(b: Buffer): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return keyOf(v) as number | bigint;
}

function describe(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof Map) return 'a dict';
  if (v instanceof PickleTuple) return 'a tuple';
  if (Array.isArray(v)) return 'a list';
  return typeof v;
}

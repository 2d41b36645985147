// Reading tar streams: bytes → members (USTAR, GNU long names, PAX) → samples (adjacent members
// sharing a key). Every problem becomes an InputError naming the shard and, where known, the key.
import { InputError } from '../errors.js';
import { debug, warn } from '../log.js';
import { BadInputs, type SkipOptions } from './bad.js';
import type { ChunkPool } from './chunks.js';
import { decodeName, keyEnd, printableName, splitMemberName } from './keys.js';
import type { Sample } from './sample.js';
import { BLOCK, isZeroBlock, padding, parseHeader, parsePaxRecords } from './tar-format.js';

/**
 * Members parsed synchronously before they are handed on. Batching saves a promise per member; the
 * bound keeps few bytes in flight (unbounded, one batch per 1 MB chunk, peak RSS of the pass-through
 * benchmark rose from ~100 MB to ~200 MB as dead buffers waited longer for a GC).
 */
const MAX_BATCH = 16;

/** Members larger than this are refused unread unless --max-member-size says otherwise (256 MB). */
export const DEFAULT_MAX_MEMBER_SIZE = 256_000_000;
/** GNU long names and PAX extended headers larger than this are refused (they are read into memory). */
const MAX_EXTENDED_HEADER = 1 << 20;
/**
 * A run of zero blocks longer than this (10 MiB) ends the archive: tar writers pad the end to a record
 * (10 KiB by default), and concatenated archives put two blocks and a record's padding between them;
 * an endless run (`/dev/zero`) would otherwise be read for ever.
 */
const MAX_ZERO_RUN = 20_480;
/** Names of earlier members remembered for hard links to resolve (two generations, as RecentKeys). */
const LINK_WINDOW = 100_000;

/** One regular-file member of an archive. */
export interface TarMember {
  name: string;
  data: Buffer;
  /** With a ChunkPool: the number of the pool chunk where the member starts (its bytes lie there or later). */
  seq?: number;
  /** Set when the member is refused (too large, an unresolved hard link): its sample is bad; `data` is empty. */
  problem?: string;
}

/** Typeflags of members that hold no sample data, by the name reported for them. */
const NON_REGULAR: Record<string, string> = {
  '2': 'symbolic link',
  '3': 'character device',
  '4': 'block device',
  '5': 'directory',
  '6': 'FIFO',
};

/**
 * Pulls exact byte counts out of a stream of chunks of any size. Member data that lies within one
 * chunk is handed out as a view of that chunk, without copying: the chunks must be fresh buffers that
 * nobody modifies afterwards (as file reads here, and Node's streams, give), or come from a ChunkPool.
 * Pieces that continue the current chunk in memory (streamChunks, pipeChunks) are joined onto it.
 */
class ByteReader {
  /** Bytes consumed so far (the offset of the next byte), for error messages. */
  offset = 0;
  /** The current chunk and the position of the next byte in it (header blocks are parsed there, in place). */
  chunk: Buffer = Buffer.alloc(0);
  pos = 0;
  /** The pool number of the current chunk (-1 without a pool, or for memory outside it). */
  seq = -1;
  /** A piece fetched ahead that does not continue the current chunk. */
  private pending: Buffer | undefined;
  /**
   * Whether member data was handed out as a view of the current chunk. A pool chunk left behind without
   * such a view (headers, skipped members, padding) goes back to the pool at once, so that a long run of
   * members nobody keeps costs no memory.
   */
  pinned = false;

  constructor(
    private readonly chunks: AsyncIterator<Buffer | Uint8Array | string>,
    private readonly pool?: ChunkPool,
  ) {}

  /** The next non-empty piece of input, or null at the end. */
  private async nextPiece(): Promise<Buffer | null> {
    if (this.pending !== undefined) {
      const piece = this.pending;
      this.pending = undefined;
      return piece;
    }
    for (;;) {
      const next = await this.chunks.next();
      if (next.done) return null;
      const value = next.value;
      const buf = Buffer.isBuffer(value) ? value : typeof value === 'string' ? Buffer.from(value, 'latin1') : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      if (buf.length > 0) return buf;
    }
  }

  /** Make `piece` the current chunk (the current one is used up). */
  private install(piece: Buffer): void {
    if (this.pool && !this.pinned && this.seq >= 0 && piece.buffer !== this.chunk.buffer) this.pool.release(this.seq);
    this.pinned = false;
    this.chunk = piece;
    this.pos = 0;
    if (this.pool) this.seq = this.pool.seqOf(piece);
  }

  /**
   * Fetch the next piece and add it to the bytes at hand without copying: joined onto the current chunk
   * when it continues it in memory, or as the new chunk when the current one is used up. False when
   * that is not possible (the piece is kept for later) or at the end of the input.
   */
  private async extend(): Promise<boolean> {
    const piece = await this.nextPiece();
    if (piece === null) return false;
    const chunk = this.chunk;
    if (piece.buffer === chunk.buffer && piece.byteOffset === chunk.byteOffset + chunk.length) {
      this.chunk = Buffer.from(chunk.buffer, chunk.byteOffset + this.pos, chunk.length - this.pos + piece.length);
      this.pos = 0;
      return true;
    }
    if (this.available === 0) {
      this.install(piece);
      return true;
    }
    this.pending = piece;
    return false;
  }

  /** Bytes left in the current chunk. */
  get available(): number {
    return this.chunk.length - this.pos;
  }

  /** Consume `n` bytes that the current chunk holds (check `available` first). */
  advance(n: number): void {
    this.pos += n;
    this.offset += n;
  }

  /**
   * The next `n` bytes (fewer only at the end of the stream): a view when they lie in one chunk, else a
   * copy. A caller that keeps the bytes sets `pinned`.
   */
  async read(n: number): Promise<Buffer> {
    while (this.available < n && (await this.extend()));
    if (this.available >= n) {
      const view = this.chunk.subarray(this.pos, this.pos + n);
      this.advance(n);
      return view;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    for (;;) {
      const take = Math.min(n - filled, this.available);
      this.chunk.copy(out, filled, this.pos, this.pos + take);
      this.advance(take);
      filled += take;
      if (filled === n) return out;
      const piece = await this.nextPiece();
      if (piece === null) return out.subarray(0, filled);
      this.install(piece);
    }
  }

  /** Discard `n` bytes; returns how many there were. */
  async skip(n: number): Promise<number> {
    let left = n;
    for (;;) {
      const take = Math.min(left, this.available);
      this.advance(take);
      left -= take;
      if (left === 0) return n;
      const piece = await this.nextPiece();
      if (piece === null) return n - left;
      this.install(piece);
    }
  }

  async close(): Promise<void> {
    await this.chunks.return?.();
  }
}

// Typeflags (POSIX ustar, GNU, PAX). Regular files carry sample data; hard links ('1') are resolved to
// an earlier member; the other POSIX types describe no file data (their size field does not count, as
// Python's tarfile does) and are counted and reported.
const REGULAR = new Set(['0', '7']);
const NO_DATA = new Set(['1', '2', '3', '4', '5', '6']);

/** Reads `size` bytes at byte `offset` of the shard (files only: a stream cannot go back). */
export type Reread = (offset: number, size: number) => Promise<Buffer>;

/** Where the data of earlier regular members lies, for hard links (bounded: two generations of names). */
class MemberIndex {
  private current = new Map<string, { offset: number; size: number }>();
  private previous = new Map<string, { offset: number; size: number }>();
  add(name: string, offset: number, size: number): void {
    if (this.current.size >= LINK_WINDOW) {
      this.previous = this.current;
      this.current = new Map();
    }
    this.current.set(name, { offset, size });
  }
  get(name: string): { offset: number; size: number } | undefined {
    return this.current.get(name) ?? this.previous.get(name);
  }
}

/** Members that hold no sample data, counted by kind and reported once per shard. */
class Unread {
  private readonly counts = new Map<string, number>();
  note(kind: string, name: string, shard: string): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
    debug(`shard ${shard}: ${kind} member "${printableName(name)}" holds no sample data; skipped`);
  }
  report(shard: string): void {
    if (this.counts.size === 0) return;
    const plural = (kind: string) => (kind === 'directory' ? 'directories' : kind.startsWith('member ') ? kind.replace('member', 'members') : `${kind}s`);
    const parts = [...this.counts].map(([kind, n]) => `${n} ${n === 1 ? kind : plural(kind)}`);
    warn(`shard ${shard}: skipped members that hold no file data: ${parts.join(', ')} (--verbose names them)`);
  }
}

/** The key a member name would give, for error messages. */
function keyOf(name: string): string | undefined {
  return splitMemberName(name)?.key ?? (name || undefined);
}

/** How members are read: limits, and what hard links and the chunk pool need. */
export interface MemberOptions {
  /** Members larger than this many bytes are refused before they are read (default DEFAULT_MAX_MEMBER_SIZE). */
  maxMemberSize?: number;
  /** Re-reads earlier member data for hard links (files); without it a hard link is a bad sample. */
  reread?: Reread;
  /**
   * The pool the input chunks come from (chunks.ts). In transient mode each sample is valid only until
   * the next one is asked for: then the chunks that only earlier samples point into are reused.
   */
  pool?: ChunkPool;
}

/**
 * The regular-file members of a tar stream (hard links resolved), in order, in small batches. Directories,
 * symbolic links and other non-file members are skipped and reported (notices below); zero blocks are skipped too, so concatenated archives (`cat a.tar b.tar`)
 * read as one. Members that the bytes at hand complete are parsed synchronously (headers in place, data
 * as views of the input chunk), and a promise is paid only when the next input chunk is needed.
 */
async function* memberBatches(chunks: AsyncIterable<Buffer | Uint8Array | string>, shard: string, options: MemberOptions = {}): AsyncGenerator<TarMember[]> {
  const reader = new ByteReader(chunks[Symbol.asyncIterator](), options.pool);
  const maxMemberSize = options.maxMemberSize ?? DEFAULT_MAX_MEMBER_SIZE;
  const index = new MemberIndex();
  const unread = new Unread();
  let batch: TarMember[] = [];
  let longName: string | undefined; // from a GNU 'L' member, for the next header
  let longLink: string | undefined; // from a GNU 'K' member, for the next header
  let pax: Map<string, string> | undefined; // from a PAX 'x' member, for the next header
  let lastName = '';
  let zeroRun = 0;
  const where = () => (lastName ? ` (after member ${JSON.stringify(lastName)})` : '');
  try {
    for (;;) {
      const start = reader.offset;
      const seq = reader.seq;
      // The header block, parsed in place: within the current chunk (the common case), or copied across chunks.
      let block = reader.chunk;
      let at = reader.pos;
      if (reader.available >= BLOCK) reader.advance(BLOCK);
      else {
        if (batch.length > 0) {
          yield batch;
          batch = [];
        }
        block = await reader.read(BLOCK);
        at = 0;
        if (block.length === 0) {
          if (longName !== undefined || pax !== undefined) {
            throw new InputError(`truncated tar: archive ends after an extended header${where()}`, { shard, key: keyOf(lastName) });
          }
          return;
        }
        if (block.length < BLOCK) {
          throw new InputError(`truncated tar: ${block.length} bytes of a header at byte ${start}${where()}`, { shard, key: keyOf(lastName) });
        }
      }
      const header = parseHeader(block, at);
      if (header === null && isZeroBlock(block, at)) {
        if (++zeroRun > MAX_ZERO_RUN) {
          const from = start - (zeroRun - 1) * BLOCK;
          warn(`shard ${shard}: more than ${(MAX_ZERO_RUN * BLOCK) >> 20} MiB of zero blocks at byte ${from}: taken as the end of the archive`);
          break;
        }
        continue;
      }
      zeroRun = 0;
      if (header === null) {
        throw new InputError(`not a tar header at byte ${start} (bad checksum: garbage or not a tar archive)${where()}`, {
          shard,
          key: keyOf(lastName),
        });
      }
      let size = header.size;
      const paxSize = pax?.get('size');
      if (paxSize !== undefined && header.type !== 'x' && header.type !== 'g') {
        size = Number(paxSize);
        if (!Number.isSafeInteger(size) || size < 0) throw new InputError(`bad PAX size ${JSON.stringify(paxSize)} at byte ${start}`, { shard });
      }
      const pad = padding(size);

      if (header.type === 'L' || header.type === 'K' || header.type === 'x' || header.type === 'g') {
        if (size > MAX_EXTENDED_HEADER) {
          throw new InputError(`extended header of ${size} bytes at byte ${start} (more than ${MAX_EXTENDED_HEADER})`, { shard, key: keyOf(lastName) });
        }
        const data = await reader.read(size);
        if (data.length < size || (await reader.skip(pad)) < pad) {
          throw new InputError(`truncated tar: extended header cut at byte ${reader.offset}${where()}`, { shard, key: keyOf(lastName) });
        }
        if (header.type === 'L' || header.type === 'K') {
          const nul = data.indexOf(0);
          const text = decodeName(data, 0, nul < 0 ? data.length : nul);
          if (header.type === 'L') longName = text;
          else longLink = text;
        } else {
          const records = parsePaxRecords(data);
          if (typeof records === 'string') throw new InputError(`${records} at byte ${start}${where()}`, { shard, key: keyOf(lastName) });
          if (header.type === 'x') pax = new Map([...(pax ?? []), ...records]);
          // Global ('g') records hold defaults such as comments; nothing in them changes names or sizes here.
        }
        continue;
      }

      const name = pax?.get('path') ?? longName ?? header.name;
      const linkname = pax?.get('linkpath') ?? longLink ?? header.linkname;
      longName = undefined;
      longLink = undefined;
      pax = undefined;
      if (header.type === 'S') {
        throw new InputError(`GNU sparse members are not supported: ${JSON.stringify(name)}`, { shard, key: keyOf(name) });
      }
      if (header.type === '1') {
        // A hard link: the data of the earlier member it names, as Python's tarfile extracts it.
        lastName = name;
        batch.push(await hardLink(name, linkname, index, options.reread, seq));
        continue;
      }
      if (NO_DATA.has(header.type)) {
        unread.note(NON_REGULAR[header.type], name, shard);
        continue;
      }
      const isFile = REGULAR.has(header.type) && !name.endsWith('/');
      if (isFile && keyEnd(name) < 0) {
        // A file that belongs to no sample (no dot in its basename, or a hidden one): skipped unread.
        debug(`shard ${shard}: member "${printableName(name)}" has no field (no dot in its name); skipped`);
        if ((await reader.skip(size + pad)) < size + pad) throw new InputError(`truncated tar: member ${JSON.stringify(name)} is cut`, { shard, key: keyOf(name) });
        continue;
      }
      if (!isFile || size > maxMemberSize) {
        // An old-style directory ('0' with a trailing slash), an unknown type, or a member too large: skip its data.
        const skipped = await reader.skip(size + pad);
        if (skipped < size + pad) throw new InputError(`truncated tar: member ${JSON.stringify(name)} is cut`, { shard, key: keyOf(name) });
        if (isFile) {
          lastName = name;
          const problem = `member ${JSON.stringify(name)} has ${size} bytes, more than --max-member-size ${maxMemberSize}`;
          batch.push({ name, data: Buffer.alloc(0), seq, problem });
        } else unread.note(name.endsWith('/') ? 'directory' : `member of type ${JSON.stringify(header.type)}`, name, shard);
        continue;
      }
      if (options.reread !== undefined) index.add(name, reader.offset, size); // only a file can go back to a link's target
      let data: Buffer;
      if (reader.available >= size + pad) {
        // The common case: data and padding within the current chunk, taken without a promise.
        data = reader.chunk.subarray(reader.pos, reader.pos + size);
        reader.advance(size + pad);
        reader.pinned = true;
      } else {
        data = await reader.read(size);
        reader.pinned = true;
        if (data.length < size) {
          throw new InputError(`truncated tar: member ${JSON.stringify(name)} is cut after ${data.length} of ${size} bytes`, {
            shard,
            key: keyOf(name),
          });
        }
        if ((await reader.skip(pad)) < pad) {
          throw new InputError(`truncated tar: the padding after member ${JSON.stringify(name)} is cut`, { shard, key: keyOf(name) });
        }
      }
      lastName = name;
      batch.push({ name, data, seq });
      if (batch.length >= MAX_BATCH) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0) yield batch;
  } catch (err) {
    // The members completed before the problem still count (the grouper decides what is whole).
    if (batch.length > 0) yield batch;
    batch = [];
    if (err instanceof InputError) throw err;
    // A read error from the underlying file or pipe.
    throw new InputError(`cannot read: ${(err as Error).message}`, { shard, key: keyOf(lastName) });
  } finally {
    unread.report(shard);
    await reader.close();
  }
}

/** The member a hard link stands for: the data of the earlier member it names, or a refused member. */
async function hardLink(name: string, target: string, index: MemberIndex, reread: Reread | undefined, seq: number): Promise<TarMember> {
  const found = index.get(target);
  const refuse = (why: string): TarMember => ({ name, data: Buffer.alloc(0), seq, problem: `hard link ${JSON.stringify(name)} to ${JSON.stringify(target)}: ${why}` });
  if (reread === undefined) return refuse('links are resolved only in files (a stream cannot go back to the target)');
  if (found === undefined) return refuse('no earlier regular member has that name');
  const data = await reread(found.offset, found.size);
  if (data.length < found.size) return refuse('the target is cut');
  return { name, data, seq };
}

export interface ReadTarOptions extends SkipOptions, MemberOptions {
  /**
   * How many keys the non-adjacent-repeat check remembers. Memory stays bounded on endless streams:
   * two generations of up to this many keys are kept, so a repeat is always caught within this distance.
   */
  keyWindow?: number;
}

/**
 * Keys seen recently, in two generations so that memory stays bounded. While keys arrive in increasing
 * order (shards are usually written sorted) a new key cannot be among them, and they are only listed;
 * the first key out of order turns the lists into sets, which answer from then on.
 */
class RecentKeys {
  private current: string[] | Set<string> = [];
  private previous: string[] | Set<string> = [];
  private last: string | undefined;
  constructor(private readonly window: number) {}
  has(key: string): boolean {
    if (Array.isArray(this.current)) {
      if (this.last === undefined || key > this.last) return false;
      this.current = new Set(this.current);
      this.previous = new Set(this.previous);
    }
    return this.current.has(key) || (this.previous as Set<string>).has(key);
  }
  add(key: string): void {
    const current = this.current;
    const size = Array.isArray(current) ? current.length : current.size;
    if (size >= this.window) {
      this.previous = current;
      this.current = Array.isArray(current) ? [] : new Set();
    }
    if (Array.isArray(this.current)) this.current.push(key);
    else this.current.add(key);
    this.last = key;
  }
}

/** Group adjacent members with the same key into samples (the WebDataset rule). Accepts members one by one or in batches. */
export async function* groupMembers(members: AsyncIterable<TarMember | TarMember[]>, shard: string, options: ReadTarOptions = {}): AsyncGenerator<Sample> {
  const bad = new BadInputs(options);
  const seen = new RecentKeys(options.keyWindow ?? 100_000);
  let current: Sample | undefined;
  let currentBad: InputError | undefined;
  /** Fail now, or (with skipBad) remember that the open sample is bad and drop it when it ends. */
  const reject = (err: InputError) => {
    currentBad ??= err;
    if (!options.skipBad) throw err;
  };
  try {
    for await (const item of members) {
      for (const member of Array.isArray(item) ? item : [item]) {
        const split = splitMemberName(member.name);
        if (split === null) {
          debug(`shard ${shard}: member ${JSON.stringify(member.name)} has no field (no dot in its name); skipped`);
          continue;
        }
        const { key, field } = split;
        if (current === undefined || key !== current.key) {
          if (current !== undefined) {
            if (currentBad) bad.handle(currentBad);
            else yield current;
            // Asked for the next sample (or the last one was dropped): the earlier ones are done with (in transient mode).
            if (member.seq !== undefined) options.pool?.releaseBefore(member.seq);
          }
          current = { key, fields: {}, shard };
          currentBad = undefined;
          if (seen.has(key)) reject(new InputError('key appears again after other samples (members of one sample must be adjacent)', { shard, key }));
          seen.add(key);
        }
        if (currentBad) continue;
        if (member.problem !== undefined) reject(new InputError(member.problem, { shard, key }));
        else if (field in current.fields) reject(new InputError(`field ${JSON.stringify(field)} appears twice in one sample`, { shard, key }));
        else if (field === '__proto__') reject(new InputError('field name "__proto__" is not supported', { shard, key }));
        else current.fields[field] = member.data;
      }
    }
  } catch (err) {
    // A cut or garbled archive: the sample in progress may be incomplete, so it is never emitted.
    bad.handle(err);
    return;
  }
  if (current !== undefined) {
    if (currentBad) bad.handle(currentBad);
    else yield current;
  }
}

/** The samples of one tar stream, grouped by key. `shardName` names it in error messages. */
export function readTar(stream: AsyncIterable<Buffer | Uint8Array | string>, shardName: string, options: ReadTarOptions = {}): AsyncGenerator<Sample> {
  return groupMembers(memberBatches(stream, shardName, options), shardName, options);
}

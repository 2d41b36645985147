// ImageFolder directories as a source (the torchvision layout): one subfolder per class, classes
// sorted by name, class index = position in that order. Each image file becomes one sample:
//   key  `<class>/<path below the class folder, without the extension>` (dots in the file stem
//        become '_', so that the key survives the tar key rule: `a.b.png` → key `<class>/a_b`)
//   <ext> the file's bytes untouched; the field is the extension lower-cased (png, jpg, jpeg, webp)
//   cls   the class index as decimal ASCII
//   json  {"class": <folder name>, "source": "real"}
// Hidden entries (names starting with '.') and files that are not images are skipped.
// Only regular files are read, symlinks followed (as torchvision's ImageFolder): FIFOs, devices and
// sockets are skipped with a notice (opening a FIFO would wait for a writer, /dev/zero never ends);
// a dangling or unreadable entry, or a file larger than maxMemberSize, is a bad input (--skip-bad skips it).
import { constants } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../errors.js';
import { debug, warn } from '../log.js';
import { BadInputs, type SkipOptions } from './bad.js';
import { byteCompare, decodeName, encodeName, printableName } from './keys.js';
import { withMeta, type Sample } from './sample.js';
import { DEFAULT_MAX_MEMBER_SIZE } from './tar-read.js';

export const IMAGE_EXTENSIONS = ['png', 'jpg', 'jpeg', 'webp'] as const;

export interface ImageFolderOptions extends SkipOptions {
  /**
   * Called once per image, in order, before its bytes are read; returning false skips the image
   * unread (used by --shard-index/--num-shards so that other workers' images cost nothing).
   */
  claim?: () => boolean;
  /** Image files larger than this are bad inputs, refused unread (default DEFAULT_MAX_MEMBER_SIZE). */
  maxMemberSize?: number;
}

// File names are bytes: they are read as bytes and decoded as tar names are (keys.ts decodeName, non-UTF-8
// bytes kept as escapes), so that names differing only in such bytes stay distinct; paths are encoded
// back to the same bytes (encodeName) whenever the file system is asked.

/** The entries of a directory, with names decoded from their bytes. */
async function entriesOf(dir: string): Promise<{ name: string; isDirectory: boolean; isSymbolicLink: boolean }[]> {
  const entries = await readdir(encodeName(dir), { withFileTypes: true, encoding: 'buffer' });
  return entries.map((e) => ({ name: decodeName(e.name as unknown as Buffer), isDirectory: e.isDirectory(), isSymbolicLink: e.isSymbolicLink() }));
}

/** stat of a path held as a decoded name; null when it cannot be stat'ed (a dangling symlink). */
function statOf(path: string) {
  return stat(encodeName(path)).catch(() => null);
}

/** The class folders of an ImageFolder directory, sorted by name (byte order). */
export async function imageFolderClasses(dir: string): Promise<string[]> {
  const entries = await entriesOf(dir);
  const classes: string[] = [];
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    if (entry.isDirectory || (entry.isSymbolicLink && (await statOf(join(dir, entry.name)))?.isDirectory())) {
      classes.push(entry.name);
    } else {
      debug(`${dir}: ${entry.name} is not in a class folder; skipped`);
    }
  }
  return classes.sort(byteCompare);
}

/**
 * Relative paths of all non-hidden entries below `dir` that are not directories, sorted by bytes.
 * Directory symlinks are followed once each (a link back up the tree is not entered again).
 */
export async function filesBelow(dir: string, prefix = '', visited = new Set<string>()): Promise<string[]> {
  const out: string[] = [];
  const here = await stat(encodeName(join(dir, prefix)));
  visited.add(`${here.dev}:${here.ino}`);
  for (const entry of await entriesOf(join(dir, prefix))) {
    if (entry.name.startsWith('.')) continue;
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    let isDir = entry.isDirectory;
    if (entry.isSymbolicLink) {
      const target = await statOf(join(dir, rel)); // dangling: reported when read
      isDir = target?.isDirectory() ?? false;
      if (isDir && visited.has(`${target!.dev}:${target!.ino}`)) {
        warn(`${dir}: ${printableName(rel)} links to a folder already read; skipped`);
        continue;
      }
    }
    if (isDir) out.push(...(await filesBelow(dir, rel, visited)));
    else out.push(rel);
  }
  return out.sort(byteCompare);
}

/**
 * The bytes of the regular file at `path`, or null (with a notice) when it is a FIFO, device or socket;
 * a file larger than `maxSize` is an InputError, refused unread. Opened without blocking, so that a FIFO
 * put in place after the listing cannot hang the reader.
 */
export async function readRegularFile(path: string, shown: string, maxSize: number, where: { shard: string; key: string }): Promise<Buffer | null> {
  let handle;
  try {
    handle = await open(encodeName(path), constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw new InputError(`cannot read ${shown}: ${(err as Error).message}`, where);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) {
      warn(`${where.shard}: ${shown} is not a regular file (a FIFO, device or socket); skipped`);
      return null;
    }
    if (info.size > maxSize) throw new InputError(`${shown} has ${info.size} bytes, more than --max-member-size ${maxSize}`, where);
    const bytes = Buffer.allocUnsafe(info.size);
    let filled = 0;
    while (filled < info.size) {
      const { bytesRead } = await handle.read(bytes, filled, info.size - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return bytes.subarray(0, filled);
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`cannot read ${shown}: ${(err as Error).message}`, where);
  } finally {
    await handle.close();
  }
}

/** `sub/a.b.PNG` → { stem: 'sub/a_b', field: 'png' }, or null when the extension is not an image's. */
export function imageFileKey(rel: string): { stem: string; field: string } | null {
  const dot = rel.lastIndexOf('.');
  const slash = rel.lastIndexOf('/');
  if (dot <= slash + 1) return null;
  const field = rel.slice(dot + 1).toLowerCase();
  if (!(IMAGE_EXTENSIONS as readonly string[]).includes(field)) return null;
  const base = rel.slice(slash + 1, dot).replace(/\./g, '_');
  return { stem: rel.slice(0, slash + 1) + base, field };
}

/** The samples of an ImageFolder directory, class by class (memory holds one class's file list at a time). */
export async function* readImageFolder(dir: string, options: ImageFolderOptions = {}): AsyncGenerator<Sample> {
  const bad = new BadInputs(options);
  const maxSize = options.maxMemberSize ?? DEFAULT_MAX_MEMBER_SIZE;
  let classes: string[];
  try {
    classes = await imageFolderClasses(dir);
  } catch (err) {
    bad.handle(new InputError(`cannot list the directory: ${(err as Error).message}`, { shard: dir }));
    return;
  }
  if (classes.length === 0) {
    bad.handle(new InputError('no class folders in the directory (ImageFolder layout: DIR/<class>/<image>)', { shard: dir }));
    return;
  }
  for (const [index, name] of classes.entries()) {
    const cls = Buffer.from(String(index));
    const meta = { class: name, source: 'real' };
    const keys = new Set<string>();
    let images = 0;
    let files: string[];
    try {
      files = await filesBelow(join(dir, name));
    } catch (err) {
      bad.handle(new InputError(`cannot list class folder ${printableName(name)}: ${(err as Error).message}`, { shard: dir }));
      continue;
    }
    for (const rel of files) {
      const parsed = imageFileKey(rel);
      if (parsed === null) {
        debug(`${dir}: ${printableName(`${name}/${rel}`)} is not an image (${IMAGE_EXTENSIONS.join(', ')}); skipped`);
        continue;
      }
      images++;
      const key = `${name}/${parsed.stem}`;
      if (options.claim && !options.claim()) {
        keys.add(key);
        continue;
      }
      try {
        if (keys.has(key)) {
          throw new InputError(`two files give the same sample key (${name}/${rel} and an earlier one; keys drop the extension)`, {
            shard: dir,
            key,
          });
        }
        keys.add(key);
        const bytes = await readRegularFile(join(dir, name, rel), printableName(`${name}/${rel}`), maxSize, { shard: dir, key });
        if (bytes === null) continue;
        yield withMeta({ key, fields: { [parsed.field]: bytes, cls }, shard: dir }, meta);
      } catch (err) {
        bad.handle(err);
      }
    }
    if (images === 0) warn(`${dir}: class folder ${name} (class ${index}) has no images`);
  }
}

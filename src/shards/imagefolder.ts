// ImageFolder directories as a source (the torchvision layout): one subfolder per class, classes
// sorted by name, class index = position in that order. Each image file becomes one sample:
//   key  `<class>/<path below the class folder, without the extension>` (dots in the file stem
//        become '_', so that the key survives the tar key rule: `a.b.png` → key `<class>/a_b`)
//   <ext> the file's bytes untouched; the field is the extension lower-cased (png, jpg, jpeg, webp)
//   cls   the class index as decimal ASCII
//   json  {"class": <folder name>, "source": "real"}
// Hidden entries (names starting with '.') and files that are not images are skipped.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../errors.js';
import { debug, warn } from '../log.js';
import { BadInputs, type SkipOptions } from './bad.js';
import { byteCompare } from './keys.js';
import { withMeta, type Sample } from './sample.js';

export const IMAGE_EXTENSIONS = ['png', 'jpg', 'jpeg', 'webp'] as const;

export interface ImageFolderOptions extends SkipOptions {
  /**
   * Called once per image, in order, before its bytes are read; returning false skips the image
   * unread (used by --shard-index/--num-shards so that other workers' images cost nothing).
   */
  claim?: () => boolean;
}

/** The class folders of an ImageFolder directory, sorted by name (byte order). */
export async function imageFolderClasses(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const classes: string[] = [];
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    if (entry.isDirectory() || (entry.isSymbolicLink() && (await stat(join(dir, entry.name))).isDirectory())) {
      classes.push(entry.name);
    } else {
      debug(`${dir}: ${entry.name} is not in a class folder; skipped`);
    }
  }
  return classes.sort(byteCompare);
}

/** Relative paths of all non-hidden files below `dir`, sorted by bytes. */
export async function filesBelow(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    let isDir = entry.isDirectory();
    if (entry.isSymbolicLink()) isDir = (await stat(join(dir, rel))).isDirectory();
    if (isDir) out.push(...(await filesBelow(dir, rel)));
    else out.push(rel);
  }
  return out.sort(byteCompare);
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
    for (const rel of await filesBelow(join(dir, name))) {
      const parsed = imageFileKey(rel);
      if (parsed === null) {
        debug(`${dir}: ${name}/${rel} is not an image (${IMAGE_EXTENSIONS.join(', ')}); skipped`);
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
        let bytes: Buffer;
        try {
          bytes = await readFile(join(dir, name, rel));
        } catch (err) {
          throw new InputError(`cannot read ${name}/${rel}: ${(err as Error).message}`, { shard: dir, key });
        }
        yield withMeta({ key, fields: { [parsed.field]: bytes, cls }, shard: dir }, meta);
      } catch (err) {
        bad.handle(err);
      }
    }
    if (images === 0) warn(`${dir}: class folder ${name} (class ${index}) has no images`);
  }
}

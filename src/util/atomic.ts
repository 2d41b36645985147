// One way to write a file so that no reader ever sees half of it and nothing planted beforehand is
// followed: the bytes go to a fresh temporary name beside the target (an unpredictable suffix, opened
// with O_EXCL, so an existing file or symlink there is an error, never written through), then the
// temporary file is renamed over the target. On failure the temporary file is removed.
import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** A fresh temporary name beside `path`: `.NAME.tmp-<pid>-<random hex>`. */
export function temporaryName(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(8).toString('hex')}`);
}

/** Writes `data` to `path` atomically (see above). */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = temporaryName(path);
  try {
    await writeFile(tmp, data, { flag: 'wx' });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

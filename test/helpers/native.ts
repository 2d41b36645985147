// Whether the oneDNN addon is built here: tests of the native rung skip, saying why, where it is not.
import { loadAddon } from '../../src/backend/native/kernels.js';

/** Why the native kernels cannot load here, or undefined where they can. */
export const nativeMissing: string | undefined = (() => {
  try {
    loadAddon();
    return undefined;
  } catch (err) {
    return `native kernels not built here: ${(err as Error).message}`;
  }
})();

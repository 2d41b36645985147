// The --backend option every compute command adds (docs/design.md, Compute).
import type { Argv } from 'yargs';
import { BACKEND_CHOICES, defaultBackend, type BackendChoice } from './index.js';

/** Add `--backend auto|tensorflow|native|wasm|cpu` (default: SYNTHAUG_BACKEND, else auto) to a command. */
export function backendOption<T>(yargs: Argv<T>): Argv<T & { backend: BackendChoice }> {
  return yargs.option('backend', {
    choices: BACKEND_CHOICES,
    default: defaultBackend(),
    // Given twice (a Makefile's flags, then the user's), the last one counts, as for a shell's options.
    coerce: (v: BackendChoice | BackendChoice[]) => (Array.isArray(v) ? v[v.length - 1] : v),
    describe: 'Compute backend: auto tries tfjs-node-gpu, tfjs-node, native (WASM + oneDNN kernels), WASM, then cpu (env SYNTHAUG_BACKEND)',
  }) as Argv<T & { backend: BackendChoice }>;
}

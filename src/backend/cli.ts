// The --backend option every compute command adds (docs/design.md, Compute).
import type { Argv } from 'yargs';
import { BACKEND_CHOICES, defaultBackend, type BackendChoice } from './index.js';

/** Add `--backend auto|tensorflow|native|wasm|cpu` (default: SYNTHAUG_BACKEND, else auto) to a command. */
export function backendOption<T>(yargs: Argv<T>): Argv<T & { backend: BackendChoice }> {
  return yargs.option('backend', {
    choices: BACKEND_CHOICES,
    default: defaultBackend(),
    describe: 'Compute backend: auto tries tfjs-node-gpu, tfjs-node, native (WASM + oneDNN kernels), WASM, then cpu (env SYNTHAUG_BACKEND)',
  }) as Argv<T & { backend: BackendChoice }>;
}

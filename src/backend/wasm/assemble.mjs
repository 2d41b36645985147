// Assembles the hand-written WASM kernels (src/**/*.wat) into dist/src/**/*.wasm with wabt, beside the
// compiled TypeScript that loads them. Part of `npm run build` (and so of prepare, test and bench);
// it lives beside the .wat files it assembles.
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import wabtInit from 'wabt';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const wabt = await wabtInit();

function* watFiles(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* watFiles(p);
    else if (e.name.endsWith('.wat')) yield p;
  }
}

const SHARED_MEMORY = '(memory 1 65536 shared)';

function assemble(name, text, out) {
  const mod = wabt.parseWat(name, text, { simd: true, threads: true });
  // wabt's own validator refuses shared memories whatever the features; node's compiler validates instead.
  const { buffer } = mod.toBinary({});
  mod.destroy();
  new WebAssembly.Module(buffer);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, buffer);
}

// Each module imports tfjs's memory, which is shared in the threaded WASM build and not in the other:
// <name>.wasm imports a shared memory, <name>.unshared.wasm a plain one.
for (const src of watFiles(join(root, 'src'))) {
  const text = readFileSync(src, 'utf8');
  if (!text.includes(SHARED_MEMORY)) throw new Error(`${src}: expected the memory import ${SHARED_MEMORY}`);
  const out = join(root, 'dist', relative(root, src)).replace(/\.wat$/, '.wasm');
  assemble(src, text, out);
  assemble(src, text.replace(SHARED_MEMORY, '(memory 1 65536)'), out.replace(/\.wasm$/, '.unshared.wasm'));
}

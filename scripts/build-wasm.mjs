// Assembles the hand-written WASM kernels (src/**/*.wat) into dist/src/**/*.wasm with wabt, beside the
// compiled TypeScript that loads them. Part of `npm run build` (and so of prepare, test and bench).
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import wabtInit from 'wabt';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const wabt = await wabtInit();

function* watFiles(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* watFiles(p);
    else if (e.name.endsWith('.wat')) yield p;
  }
}

for (const src of watFiles(join(root, 'src'))) {
  const mod = wabt.parseWat(src, readFileSync(src, 'utf8'), { simd: true, threads: true });
  // wabt's own validator refuses shared memories whatever the features; node's compiler validates instead.
  const { buffer } = mod.toBinary({});
  new WebAssembly.Module(buffer);
  const out = join(root, 'dist', relative(root, src)).replace(/\.wat$/, '.wasm');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, buffer);
  mod.destroy();
}

// `npm run bench`: runs every bench/*.js module beside this one that exports `run()`, in name order, one
// after the other, with a header each. A bench that throws is reported and the others still run; the
// exit code is 1 if any failed.
import { readdirSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const self = basename(fileURLToPath(import.meta.url));

async function main(): Promise<void> {
  const files = readdirSync(here).filter((f) => f.endsWith('.js') && f !== self).sort();
  const failed: string[] = [];
  for (const file of files) {
    const mod = (await import(pathToFileURL(`${here}/${file}`).href)) as { run?: () => Promise<void> | void };
    if (typeof mod.run !== 'function') continue;
    const name = file.replace(/\.js$/, '');
    console.log(`\n=== bench/${name} ===`);
    const t0 = performance.now();
    try {
      await mod.run();
      console.log(`--- bench/${name}: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    } catch (err) {
      failed.push(name);
      console.log(`--- bench/${name}: FAILED after ${((performance.now() - t0) / 1000).toFixed(1)} s: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    }
  }
  if (failed.length) {
    console.log(`\n${failed.length} bench(es) failed: ${failed.join(', ')}`);
    process.exitCode = 1;
  }
}

// Exit explicitly: the WASM backend's pthread workers can keep the event loop alive after the benches.
main().then(
  () => process.exit(process.exitCode ?? 0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);

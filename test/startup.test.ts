// Start-up: commands that do not run a network or decode an image must not load TensorFlow.js, its
// backends, sharp or cli-progress (each costs more than node's own start-up). A child process runs
// the CLI's main() and lists, as it exits, the modules in require.cache: these packages are CommonJS,
// so every import of them, static or dynamic, lands there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tarBytes } from '../src/shards/index.js';
import { run, tempDir } from './helpers/cli.js';
import { sample } from './helpers/tar.js';

const CLI_URL = new URL('../src/cli.js', import.meta.url).href;
const HEAVY = /@tensorflow|[/\\]sharp[/\\]|@img[/\\]sharp|cli-progress/;

/** The heavy packages loaded while `synthaug ARGS...` runs in one process, and its exit code. */
async function heavyModulesOf(args: string[]): Promise<{ loaded: string[]; stderr: string; code: number | null }> {
  const script = `
    import { createRequire } from 'node:module';
    process.on('exit', () => {
      const loaded = Object.keys(createRequire(import.meta.url).cache).filter((p) => ${HEAVY}.test(p));
      process.stderr.write('\\nLOADED ' + JSON.stringify(loaded) + '\\n');
    });
    const { main } = await import(${JSON.stringify(CLI_URL)});
    await main(${JSON.stringify(args)});`;
  const r = await run(process.execPath, ['--input-type=module', '-e', script]);
  const line = r.stderr.split('\n').find((l) => l.startsWith('LOADED '));
  assert.ok(line, `no module list from ${args.join(' ')}: ${r.stderr}`);
  return { loaded: JSON.parse(line.slice('LOADED '.length)) as string[], stderr: r.stderr, code: r.code };
}

test('--version, --help, ls, cat and mix load neither TensorFlow.js nor sharp', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'a.tar');
  writeFileSync(file, await tarBytes([sample('x/0', 1, 10), sample('x/1', 0, 10)]));
  const out = join(dir, 'out.tar');
  for (const args of [['--version'], ['--help'], ['ls', file], ['cat', file, '-o', out], ['mix', file, file, '-o', out], ['cat', '--help']]) {
    const r = await heavyModulesOf(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.deepEqual(r.loaded, [], `synthaug ${args.join(' ')} loaded ${r.loaded.join(', ')}`);
  }
});

test('a command that runs a network loads TensorFlow.js when it runs', async () => {
  // The probe sees the packages when they are loaded: train-classifier's options list the architectures.
  const r = await heavyModulesOf(['train-classifier', '--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.loaded.some((p) => p.includes('@tensorflow')), r.loaded.join(', '));
});

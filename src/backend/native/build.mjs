// Builds the oneDNN addon (dnnl_kernels.cc) into dist/src/backend/native/synthaug_dnnl.node, beside the
// compiled TypeScript that loads it. Part of `npm run build`. It never fails the build: without oneDNN's
// headers, a C++ compiler, make or the running Node's headers it prints one line saying how to get them
// and synthaug runs on WASM alone. node-gyp is the copy bundled with npm, pointed with --nodedir at the
// headers installed beside the node binary (Debian: /usr/include/node), so nothing is downloaded.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, realpathSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const out = join(root, 'dist', 'src', 'backend', 'native', 'synthaug_dnnl.node');
const HOW = 'apt-get install libdnnl-dev g++ make';

function onPath(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** node-gyp's entry script: npm's own copy (npm_execpath when run by npm, else beside the npm on PATH). */
function nodeGyp() {
  const candidates = [];
  if (process.env.npm_execpath) candidates.push(join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  const npm = (spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout ?? '').trim();
  if (npm) candidates.push(join(dirname(realpathSync(npm)), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  return candidates.find((p) => existsSync(p));
}

function skip(why) {
  // An addon left from an earlier build would not match the TypeScript built now.
  rmSync(out, { force: true });
  console.error(`synthaug: native oneDNN kernels not built (${why}); to get them: ${HOW}`);
  process.exit(0);
}

// Whatever goes wrong below, the build goes on without the addon.
process.on('uncaughtException', (err) => skip(err.message.split('\n')[0]));

const nodeDir = dirname(dirname(process.execPath));
const missing = [];
if (!['/usr/include/oneapi/dnnl/dnnl.hpp', '/usr/local/include/oneapi/dnnl/dnnl.hpp'].some(existsSync)) missing.push('oneDNN headers');
if (!onPath('g++') && !onPath('c++')) missing.push('a C++ compiler');
if (!onPath('make')) missing.push('make');
if (!existsSync(join(nodeDir, 'include', 'node', 'node_api.h'))) missing.push(`Node headers in ${join(nodeDir, 'include', 'node')}`);
const gyp = nodeGyp();
if (gyp === undefined) missing.push("npm's node-gyp");
if (missing.length) skip(`missing ${missing.join(', ')}`);

const gypArgs = (cmd) => [gyp, cmd, `--nodedir=${nodeDir}`, '--loglevel=error'];
const steps = existsSync(join(here, 'build', 'Makefile')) ? ['build'] : ['configure', 'build'];
for (const step of steps) {
  const r = spawnSync(process.execPath, gypArgs(step), { cwd: here, encoding: 'utf8' });
  if (r.status !== 0) {
    const last = `${r.stderr}\n${r.stdout}`.split('\n').filter((l) => /error/i.test(l))[0] ?? `node-gyp ${step} exited with ${r.status}`;
    skip(`node-gyp ${step} failed: ${last.trim()}`);
  }
}
mkdirSync(dirname(out), { recursive: true });
// Copied beside it, then renamed over it: a running synthaug has the old file mapped, and overwriting it in
// place would crash that process (SIGBUS) at its next page of the addon.
copyFileSync(join(here, 'build', 'Release', 'synthaug_dnnl.node'), `${out}.tmp`);
renameSync(`${out}.tmp`, out);

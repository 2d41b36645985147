// Benchmark: peak memory of `synthaug ls -` over a long stream of tar members that hold no sample
// (directory headers, symlinks, files without a field, members of an unknown type, runs of zero blocks),
// generated on the fly and piped through stdin. None of it is kept, so peak RSS must stay flat, whatever
// the stream's length: target < 200 MB. Two lengths are run to show it does not grow.
//
//   node dist/bench/skipped.js [--gb 2]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { END_OF_ARCHIVE } from '../src/shards/tar-format.js';
import { rawMember } from '../test/helpers/tar.js';

const SELF = fileURLToPath(import.meta.url);
const BIN = fileURLToPath(new URL('../../bin/synthaug', import.meta.url));

/** About 1 MiB of members that `ls` skips: 1 sample's worth of nothing. */
function unit(i: number): Buffer {
  const parts: Buffer[] = [];
  for (let d = 0; d < 256; d++) parts.push(rawMember(`dir-${i}-${d}/`, '', '5'));
  parts.push(rawMember(`link-${i}.png`, '', '2', 'target.png'));
  parts.push(rawMember(`README-${i}`, Buffer.alloc(300_000, 0x61)));
  parts.push(rawMember(`volume-${i}.bin`, Buffer.alloc(300_000, 0x62), 'V'));
  parts.push(Buffer.alloc(300_000 - (300_000 % 512))); // zero blocks, as padding between archives
  return Buffer.concat(parts);
}

/** Write `gb` GB of skipped members to stdout, then the end-of-archive marker. */
async function generate(gb: number): Promise<void> {
  const block = unit(0);
  let left = gb * 1e9;
  while (left > 0) {
    left -= block.length;
    if (!process.stdout.write(block)) await new Promise((resolve) => process.stdout.once('drain', resolve));
  }
  process.stdout.write(END_OF_ARCHIVE);
}

function sh(script: string): Promise<{ seconds: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('bash', ['-c', `set -o pipefail; ${script}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b));
    child.stderr.on('data', (b: Buffer) => (stderr += b));
    child.on('close', (code) => (code === 0 ? resolve({ seconds: (performance.now() - t0) / 1000, stdout, stderr }) : reject(new Error(`${script}: exit ${code}\n${stderr}`))));
  });
}

export async function run(argv: string[] = process.argv.slice(2)): Promise<void> {
  const at = argv.indexOf('--gb');
  const gb = at >= 0 ? Number(argv[at + 1]) : 2;
  const dir = mkdtempSync(join(tmpdir(), 'synthaug-bench-'));
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  try {
    for (const size of [gb / 8, gb]) {
      const rss = join(dir, 'rss');
      const r = await sh(`${q(process.execPath)} ${q(SELF)} --generate ${size} | /usr/bin/time -f %M -o ${q(rss)} ${q(process.execPath)} ${q(BIN)} ls -`);
      const peakMB = Number(readFileSync(rss, 'utf8').trim().split('\n').pop()) / 1024;
      const total = /^total\t\t(\d+)$/m.exec(r.stdout)?.[1];
      process.stdout.write(
        `ls - over ${size.toFixed(2)} GB of skipped members: ${total} samples, ${(size * 1000 / r.seconds).toFixed(0)} MB/s, ` +
          `peak RSS ${peakMB.toFixed(0)} MB (target < 200, flat in the stream length)\n`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === SELF) {
  const generateAt = process.argv.indexOf('--generate');
  const work = generateAt >= 0 ? generate(Number(process.argv[generateAt + 1])) : run();
  work.catch((err) => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`);
    process.exit(1);
  });
}

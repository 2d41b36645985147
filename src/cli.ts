// Entry point: the only place that calls process.exit. Each subcommand is one file in commands/.
import yargs from 'yargs';
import type { CommandModule } from 'yargs';
import { readFileSync } from 'node:fs';
import { InputError, UsageError } from './errors.js';
import { setVerbose } from './log.js';
import { commands } from './commands/index.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/** Exit codes (docs/design.md, Conventions): 0 success, 1 runtime failure, 2 usage error; EPIPE downstream is a quiet 0. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof UsageError) return 2;
  if (isEpipe(err)) return 0;
  return 1;
}

export function isEpipe(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === 'EPIPE';
}

function report(err: unknown): void {
  if (isEpipe(err)) return;
  if (err instanceof UsageError || err instanceof InputError) {
    process.stderr.write(`synthaug: ${err.message}\n`);
  } else if (err instanceof Error) {
    process.stderr.write(`synthaug: ${process.env.SYNTHAUG_DEBUG ? err.stack : err.message}\n`);
  } else {
    process.stderr.write(`synthaug: ${String(err)}\n`);
  }
}

export async function main(argv: string[]): Promise<void> {
  // A reader that closes our stdout (`| head`) ends the command quietly.
  process.stdout.on('error', (err) => {
    if (isEpipe(err)) process.exit(0);
    report(err);
    process.exit(1);
  });
  let failure: unknown;
  try {
    await yargs(argv)
      .scriptName('synthaug')
      .version(pkg.version)
      .usage('$0 <command> [options]\n\nComposable commands for generative data augmentation over WebDataset tar shards.')
      .option('verbose', { type: 'boolean', default: false, describe: 'Log details (backend choice, shard names) to stderr' })
      .middleware((args) => setVerbose(Boolean(args.verbose)))
      .command(commands as CommandModule[])
      .demandCommand(1, 'Name a command (see --help).')
      .strict()
      .recommendCommands()
      .wrap(Math.min(110, process.stderr.columns ?? 100))
      .fail((msg, err) => {
        throw err ?? new UsageError(msg);
      })
      .parseAsync();
  } catch (err) {
    failure = err;
  }
  if (failure !== undefined) {
    report(failure);
    process.exitCode = exitCodeFor(failure);
  }
}

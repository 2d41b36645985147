// synthaug ls: look into a stream — samples per class (from `cls` and the json class name), the
// fields seen, and with --keys one line per sample: key<TAB>field,field,... Names from the input are
// printed with control characters and non-UTF-8 bytes escaped (printableName); --json keeps them exact.
import type { CommandModule } from 'yargs';
import { BadInputs, openSource, printableName, sampleLabel, sampleMeta, sortedFields } from '../shards/index.js';
import { sourceArgs, sourceOptionsFrom, writeStdout, type SourceArgs } from './common.js';

interface LsArgs extends SourceArgs {
  keys: boolean;
  json: boolean;
}

/** One row of the class table: a (cls, class name) pair; cls null for samples without one. */
interface ClassRow {
  cls: number | null;
  class: string | null;
  samples: number;
}

/** Text lines are collected up to this size before a write. */
const CHUNK = 64 * 1024;

export const lsCommand: CommandModule<object, LsArgs> = {
  command: 'ls <sources..>',
  describe: 'Count samples per class in a stream; --keys lists each sample key and its fields',
  builder: (y) =>
    sourceArgs(y)
      .option('keys', { type: 'boolean', default: false, describe: 'Print one line per sample, key<TAB>fields (comma-separated), instead of the class table' })
      .option('json', { type: 'boolean', default: false, describe: 'Print one JSON object: samples, classes, fields (and keys with --keys)' }),
  handler: async (args) => {
    const options = sourceOptionsFrom(args);
    // ls keeps no sample past the next one, so the reader may reuse its chunks.
    const source = openSource(args.sources, { ...options, transient: true });
    const bad = new BadInputs(options, 'sample');
    const rows = new Map<string, ClassRow>();
    const fields = new Map<string, number>();
    const keys: { key: string; fields: string[] }[] = [];
    let samples = 0;
    let pending = '';
    for await (const sample of source) {
      let row: ClassRow;
      try {
        const cls = 'cls' in sample.fields ? sampleLabel(sample, options.maxClasses) : null;
        const name = sampleMeta(sample).class;
        row = { cls, class: typeof name === 'string' ? name : null, samples: 0 };
      } catch (err) {
        bad.handle(err);
        continue;
      }
      samples++;
      const id = `${row.cls}\t${row.class}`;
      (rows.get(id) ?? rows.set(id, row).get(id)!).samples++;
      const names = sortedFields(sample.fields);
      for (const f of names) fields.set(f, (fields.get(f) ?? 0) + 1);
      if (args.keys && args.json) keys.push({ key: sample.key, fields: names });
      else if (args.keys) {
        pending += `${printableName(sample.key)}\t${names.map(printableName).join(',')}\n`;
        if (pending.length >= CHUNK) {
          await writeStdout(pending);
          pending = '';
        }
      }
    }
    bad.summary();
    const table = [...rows.values()].sort(
      (a, b) => (a.cls ?? Infinity) - (b.cls ?? Infinity) || (a.class ?? '').localeCompare(b.class ?? ''),
    );
    if (args.json) {
      const result: Record<string, unknown> = { samples, classes: table, fields: Object.fromEntries([...fields].sort()) };
      if (args.keys) result.keys = keys;
      if (bad.count > 0) result.skipped = bad.count;
      await writeStdout(`${JSON.stringify(result)}\n`);
    } else if (args.keys) {
      await writeStdout(pending);
    } else {
      const lines = [
        'cls\tclass\tsamples',
        ...table.map((r) => `${r.cls ?? '-'}\t${r.class === null ? '-' : printableName(r.class)}\t${r.samples}`),
        `total\t\t${samples}`,
      ];
      await writeStdout(`${lines.join('\n')}\n`);
    }
  },
};

// synthaug report: turn an experiment's results directory (the commands' --json outputs, tagged by
// `key=value` directory names; see src/report/results.ts) into a markdown page with tables and PNG charts.
import type { Argv, CommandModule } from 'yargs';
import { mkdir } from 'node:fs/promises';
import { writeFileAtomic } from '../util/atomic.js';
import { join } from 'node:path';
import { warn } from '../log.js';

interface ReportArgs {
  results: string;
  output: string;
  title: string;
}

export const reportCommand: CommandModule<object, ReportArgs> = {
  command: 'report <results>',
  describe: 'Write a markdown report with tables and PNG charts from an experiment\'s results directory',
  builder: (y: Argv) =>
    y
      .positional('results', { type: 'string', demandOption: true, describe: 'Results directory: --json outputs under key=value directories (guidance=1.5/fid.json, real=100/synthetic=2/seed=1/classifier.json, ...)' })
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'Report directory: report.md, guidance.png, accuracy.png' })
      .option('title', { type: 'string', default: 'Synthetic data from diffusion models: results', describe: 'Title of the markdown page' })
      .example('$0 report runs/fmnist/results -o runs/fmnist/report', '') as unknown as Argv<ReportArgs>,
  handler: async (args) => {
    // Loaded here, not at start-up: the charts pull in the image codec.
    const [{ readResults, tabulate }, { accuracyChart, CHART_FILES, guidanceChart, renderMarkdown }] = await Promise.all([
      import('../report/results.js'),
      import('../report/render.js'),
    ]);
    const tree = await readResults(args.results);
    const tables = tabulate(tree);
    await mkdir(args.output, { recursive: true });
    const charts: { guidance?: string; accuracy?: string } = {};
    for (const [name, canvas] of [
      ['guidance', guidanceChart(tables.guidance)],
      ['accuracy', accuracyChart(tables.augmentation)?.canvas],
    ] as const) {
      if (!canvas) continue;
      await writeFileAtomic(join(args.output, CHART_FILES[name]), canvas.toPng());
      charts[name] = CHART_FILES[name];
    }
    const markdown = renderMarkdown(tables, tree, { outDir: args.output, title: args.title, charts });
    const page = join(args.output, 'report.md');
    await writeFileAtomic(page, markdown);
    warn(`report: ${tree.records.length} results, ${tree.images.length} images → ${page}`);
  },
};

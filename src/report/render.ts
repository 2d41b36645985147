// The experiment's report: a markdown page of tables (metrics against guidance; real + synthetic against
// real only, mean ± std over seeds), the charts drawn from the same numbers, the sample grids, step times
// and the run's notes (machine, settings).
import { relative, dirname } from 'node:path';
import type { Canvas } from '../images/draw.js';
import { formatDuration } from '../log.js';
import { lineChart, panels, type Series } from './chart.js';
import type { AugmentationRow, GuidanceRow, ResultTree, Tables } from './results.js';

/** File names of the charts inside the report directory. */
export const CHART_FILES = { guidance: 'guidance.png', accuracy: 'accuracy.png' } as const;

const pct = (v: number | undefined, digits = 2) => (v === undefined ? '–' : (100 * v).toFixed(digits));
const num = (v: number | undefined, digits = 2) => (v === undefined ? '–' : v.toFixed(digits));
const signed = (v: number) => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(2)}`;

/** Metrics against guidance: FID (classifier features, and Inception where measured), IS, CAS top-1. */
export function guidanceChart(rows: GuidanceRow[]): Canvas | undefined {
  if (rows.length === 0) return undefined;
  const panel = (title: string, yLabel: string, name: string, pick: (r: GuidanceRow) => { y?: number; err?: number }) => {
    const points = rows.flatMap((r) => {
      const { y, err } = pick(r);
      return y === undefined ? [] : [{ x: r.guidance, y, err }];
    });
    return points.length === 0 ? undefined : lineChart({ title, xLabel: 'guidance w', yLabel, series: [{ name, points }] }).canvas;
  };
  const charts = [
    panel('FID', 'FID (classifier features)', 'classifier', (r) => ({ y: r.fid })),
    panel('Inception FID', 'FID (Inception-v3)', 'Inception', (r) => ({ y: r.fidInception })),
    panel('Inception Score', 'IS (± std over splits)', 'IS', (r) => ({ y: r.isMean, err: r.isStd })),
    panel('CAS', 'CAS top-1 (%)', 'CAS', (r) => ({ y: r.casTop1 === undefined ? undefined : 100 * r.casTop1 })),
    panel('Agreement', 'labelled as their class (%)', 'agreement', (r) => ({ y: r.agreement === undefined ? undefined : 100 * r.agreement })),
  ].filter((c): c is Canvas => c !== undefined);
  return charts.length === 0 ? undefined : panels(charts, 2);
}

/** Top-1 against the synthetic amount, one line per real count, error bars one standard deviation. */
export function accuracyChart(rows: AugmentationRow[]): ReturnType<typeof lineChart> | undefined {
  if (rows.length === 0) return undefined;
  const reals = [...new Set(rows.map((r) => r.real))];
  const series: Series[] = reals.map((real) => ({
    name: `${real} real a class`,
    points: rows.filter((r) => r.real === real).map((r) => ({ x: r.synthetic, y: 100 * r.top1.mean, err: 100 * r.top1.std })),
  }));
  const amounts = [...new Set(rows.map((r) => r.synthetic))].sort((a, b) => a - b);
  return lineChart({
    title: 'Real + synthetic',
    xLabel: 'synthetic images / real images',
    yLabel: 'test top-1 (%, ± std over seeds)',
    series,
    xTicks: amounts.map((a) => ({ value: a, label: a === 0 ? 'real' : `${a}x` })),
    width: 560,
    height: 360,
  });
}

/** Agreement a class (rows) at each guidance weight (columns). */
function agreementTable(rows: GuidanceRow[]): string[] {
  const names = rows[0]?.agreementPerClass?.map((p) => p.name) ?? [];
  const lines = [`| class | ${rows.map((r) => `w = ${r.guidance}`).join(' | ')} |`, `|---|${rows.map(() => '---:|').join('')}`];
  names.forEach((name, i) => {
    lines.push(`| ${name} | ${rows.map((r) => pct(r.agreementPerClass![i]?.accuracy ?? undefined, 1)).join(' | ')} |`);
  });
  return lines;
}

export interface RenderOptions {
  /** The report directory: image links are written relative to it. */
  outDir: string;
  title: string;
  /** Which charts were written (file names inside outDir). */
  charts: { guidance?: string; accuracy?: string };
}

/** The markdown page. */
export function renderMarkdown(tables: Tables, tree: ResultTree, o: RenderOptions): string {
  const out: string[] = [`# ${o.title}`, ''];
  const link = (path: string) => relative(o.outDir, path).split('\\').join('/');

  if (tables.reference) {
    out.push(
      `Feature network for FID and IS: a classifier trained on the real training set, ` +
        `top-1 ${pct(tables.reference.top1)}%, top-5 ${pct(tables.reference.top5)}% on the real test set.`,
      '',
    );
  }

  if (tables.guidance.length > 0) {
    const inception = tables.guidance.some((r) => r.fidInception !== undefined);
    const agreement = tables.guidance.some((r) => r.agreement !== undefined);
    out.push('## Generated images against guidance', '');
    out.push(
      `| guidance w | FID (classifier features) |${inception ? ' FID (Inception) |' : ''} IS | CAS top-1 (%) | CAS top-5 (%) |${agreement ? ' agreement (%) |' : ''}`,
      `|---:|---:|${inception ? '---:|' : ''}---:|---:|---:|${agreement ? '---:|' : ''}`,
    );
    for (const r of tables.guidance) {
      const is = r.isMean === undefined ? '–' : `${num(r.isMean)} ± ${num(r.isStd)}`;
      out.push(
        `| ${r.guidance} | ${num(r.fid)} |${inception ? ` ${num(r.fidInception)} |` : ''} ${is} | ${pct(r.casTop1)} | ${pct(r.casTop5)} |` +
          `${agreement ? ` ${pct(r.agreement)} |` : ''}`,
      );
    }
    out.push('');
    if (agreement) {
      out.push(
        'Agreement: the share of samples that the feature network (a classifier of real data) labels as the class they were sampled for.',
        '',
      );
      out.push(...agreementTable(tables.guidance.filter((r) => r.agreementPerClass !== undefined)), '');
    }
    const best = (pick: (r: GuidanceRow) => number | undefined, sign: 1 | -1) => {
      const rows = tables.guidance.filter((r) => pick(r) !== undefined);
      return rows.length === 0 ? undefined : rows.reduce((a, b) => (sign * pick(b)! > sign * pick(a)! ? b : a));
    };
    const bestFid = best((r) => r.fid, -1);
    const bestCas = best((r) => r.casTop1, 1);
    const notes = [
      bestFid && `lowest FID at w = ${bestFid.guidance}`,
      bestCas && `highest CAS at w = ${bestCas.guidance}`,
    ].filter(Boolean);
    if (notes.length > 0) out.push(`${notes.join('; ')}.`, '');
    if (o.charts.guidance) out.push(`![metrics against guidance](${o.charts.guidance})`, '');
  }

  if (tables.augmentation.length > 0) {
    out.push('## Real + synthetic against real only', '');
    out.push('| real a class | synthetic | test top-1 (%) mean ± std | seeds | gain over real only (points) |', '|---:|---:|---:|---:|---:|');
    for (const r of tables.augmentation) {
      const gain = r.gain === undefined ? '–' : `${signed(100 * r.gain)}${r.beyondStd ? ' (> 1 std)' : ''}`;
      const amount = r.synthetic === 0 ? 'none (real only)' : `${r.synthetic}× real`;
      out.push(`| ${r.real} | ${amount} | ${pct(r.top1.mean)} ± ${pct(r.top1.std)} | ${r.seeds.join(', ')} | ${gain} |`);
    }
    out.push(
      '',
      'std is the sample standard deviation over the seeds (n − 1). "> 1 std": the gain exceeds the larger of the two arms\' standard deviations.',
      '',
    );
    if (o.charts.accuracy) out.push(`![accuracy against synthetic amount](${o.charts.accuracy})`, '');
  }

  if (tree.images.length > 0) {
    out.push('## Samples', '');
    for (const img of tree.images) {
      const label = Object.entries(img.tags).map(([k, v]) => (v === '' ? k : `${k} ${v}`)).join(', ') || relative(tree.root, dirname(img.path)) || 'samples';
      out.push(`### ${label}`, '', `![${label}](${link(img.path)})`, '');
    }
  }

  if (tree.times.length > 0) {
    // Steps are named "<stage> <details>"; the table sums each stage.
    const stages = new Map<string, { seconds: number; steps: number }>();
    for (const t of tree.times) {
      const stage = t.step.split(' ')[0];
      const s = stages.get(stage) ?? stages.set(stage, { seconds: 0, steps: 0 }).get(stage)!;
      s.seconds += t.seconds;
      s.steps++;
    }
    const total = tree.times.reduce((a, t) => a + t.seconds, 0);
    out.push('## Times', '', '| stage | steps | wall time |', '|---|---:|---:|');
    for (const [stage, s] of stages) out.push(`| ${stage} | ${s.steps} | ${formatDuration(s.seconds)} |`);
    out.push(`| total | ${tree.times.length} | ${formatDuration(total)} |`, '');
  }

  for (const note of tree.notes) out.push(`## ${note.name}`, '', '```', note.text.trimEnd(), '```', '');
  return `${out.join('\n').trimEnd()}\n`;
}

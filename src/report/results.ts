// An experiment's results as a directory tree of the commands' own `--json` outputs. Directory names of
// the form `key=value` tag everything below them (as Hive-style partitions do); the file name says what
// the JSON is:
//   guidance=<w>/fid.json             synthaug fid --json (classifier features)  → fid
//   guidance=<w>/fid-inception.json   synthaug fid --json with Inception weights → fid
//   guidance=<w>/is.json              synthaug inception-score --json → inception_score_mean, _std
//   guidance=<w>/cas.json             synthaug cas --json → cas.top1, cas.top5
//   guidance=<w>/agreement.json       synthaug train-classifier --evaluate CLF --val SAMPLES --json: how often a
//                                     classifier of real data labels the samples as their class → top1, perClass
//   real=<n>/synthetic=<k>/seed=<s>/classifier.json   synthaug train-classifier --json → top1, top5
//   reference/classifier.json         the feature network's own test accuracy
//   *.png                             images shown in the report (sample grids)
//   times.jsonl                       {"step": name, "seconds": n} per step (a step run again: its last time)
//   *.txt                             shown verbatim (machine, settings)
// Other files are ignored, so a run may keep logs beside its results.
import { readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { InputError } from '../errors.js';

/** One JSON result: the tags of its directories, its kind (file name without .json) and content. */
export interface ResultRecord {
  path: string;
  tags: Record<string, string>;
  kind: string;
  data: unknown;
}

export interface ResultTree {
  root: string;
  records: ResultRecord[];
  /** PNG files, with their tags. */
  images: { path: string; tags: Record<string, string> }[];
  times: { step: string; seconds: number }[];
  /** Text files shown verbatim, by path relative to the root. */
  notes: { name: string; text: string }[];
}

/** Read every result under `root` (sorted walk, so the order does not depend on the file system). */
export async function readResults(root: string): Promise<ResultTree> {
  const tree: ResultTree = { root, records: [], images: [], times: [], notes: [] };
  let found = false;
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      throw new InputError(`cannot read the results directory: ${(err as Error).message}`, { shard: dir });
    }
    found = true;
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (e.name.startsWith('.')) continue;
      const path = join(dir, e.name);
      if (e.isDirectory()) {
        await walk(path);
        continue;
      }
      const tags = tagsOf(relative(root, dir));
      if (e.name.endsWith('.json')) {
        tree.records.push({ path, tags, kind: e.name.slice(0, -'.json'.length), data: parseJson(await readFile(path, 'utf8'), path) });
      } else if (e.name.endsWith('.png')) {
        tree.images.push({ path, tags });
      } else if (e.name === 'times.jsonl') {
        for (const line of (await readFile(path, 'utf8')).split('\n')) {
          if (line.trim() === '') continue;
          const t = parseJson(line, path) as { step?: unknown; seconds?: unknown };
          if (typeof t.step !== 'string' || typeof t.seconds !== 'number') throw new InputError(`a line lacks "step" or "seconds": ${line}`, { shard: path });
          tree.times.push({ step: t.step, seconds: t.seconds });
        }
        // A step that ran again (its output removed, or settings changed and the target rebuilt) made the
        // output that is there now: keep its last time only, in the order of first runs.
        const last = new Map(tree.times.map((t) => [t.step, t.seconds]));
        tree.times = [...last].map(([step, seconds]) => ({ step, seconds }));
      } else if (e.name.endsWith('.txt')) {
        tree.notes.push({ name: relative(root, path), text: await readFile(path, 'utf8') });
      }
    }
  };
  await walk(root);
  if (!found) throw new InputError('no results directory', { shard: root });
  return tree;
}

/** `a=1/b/c=x` → {a: '1', c: 'x'}; a segment without '=' is a tag of its own name with value ''. */
export function tagsOf(dir: string): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const seg of dir.split(sep).filter((s) => s !== '' && s !== '.')) {
    const eq = seg.indexOf('=');
    if (eq < 0) tags[seg] = '';
    else tags[seg.slice(0, eq)] = seg.slice(eq + 1);
  }
  return tags;
}

function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InputError(`not JSON: ${(err as Error).message}`, { shard: path });
  }
}

/** A number at a dotted path of a record's JSON, or an InputError naming the file and the path. */
export function numberAt(record: ResultRecord, path: string): number {
  let v: unknown = record.data;
  for (const k of path.split('.')) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[k] : undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new InputError(`expected a number at "${path}" in this ${record.kind} result`, { shard: record.path });
  return v;
}

/** Mean and sample standard deviation (n − 1; 0 for one value). */
export interface Summary {
  mean: number;
  std: number;
  n: number;
}

export function summarize(values: number[]): Summary {
  const n = values.length;
  if (n === 0) return { mean: NaN, std: NaN, n };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, n };
}

/** The measurements of one guidance weight (Figure 3 of the paper); absent ones are undefined. */
export interface GuidanceRow {
  guidance: number;
  fid?: number;
  fidInception?: number;
  isMean?: number;
  isStd?: number;
  casTop1?: number;
  casTop5?: number;
  /** The share of samples a classifier of real data labels as their conditioning class, overall and a class. */
  agreement?: number;
  agreementPerClass?: { name: string; accuracy: number | null }[];
}

/** One arm of the augmentation experiment (Tables 3 and 4): top-1 over seeds, and the gain over real only. */
export interface AugmentationRow {
  real: number;
  /** Synthetic images as a multiple of the real count; 0 is real only. */
  synthetic: number;
  top1: Summary;
  seeds: number[];
  /** Mean top-1 minus real only's, in the same units (fractions); undefined for real only or without it. */
  gain?: number;
  /** gain > the larger of the two arms' standard deviations. */
  beyondStd?: boolean;
}

export interface Tables {
  guidance: GuidanceRow[];
  augmentation: AugmentationRow[];
  /** The feature network's own accuracy on the real test set. */
  reference?: { top1: number; top5: number };
}

/** Gather the records into the experiment's tables. */
export function tabulate(tree: ResultTree): Tables {
  const byGuidance = new Map<number, GuidanceRow>();
  const arms = new Map<string, { real: number; synthetic: number; runs: { seed: number; top1: number }[] }>();
  let reference: Tables['reference'];
  for (const r of tree.records) {
    if ('guidance' in r.tags) {
      const w = tagNumber(r, 'guidance');
      const row = byGuidance.get(w) ?? byGuidance.set(w, { guidance: w }).get(w)!;
      if (r.kind === 'fid') row.fid = numberAt(r, 'fid');
      else if (r.kind === 'fid-inception') row.fidInception = numberAt(r, 'fid');
      else if (r.kind === 'is') {
        row.isMean = numberAt(r, 'inception_score_mean');
        row.isStd = numberAt(r, 'inception_score_std');
      } else if (r.kind === 'cas') {
        row.casTop1 = numberAt(r, 'cas.top1');
        row.casTop5 = numberAt(r, 'cas.top5');
      } else if (r.kind === 'agreement') {
        row.agreement = numberAt(r, 'top1');
        row.agreementPerClass = perClassOf(r);
      }
    } else if (r.kind === 'classifier' && 'real' in r.tags) {
      const real = tagNumber(r, 'real');
      const synthetic = 'synthetic' in r.tags ? tagNumber(r, 'synthetic') : 0;
      const seed = 'seed' in r.tags ? tagNumber(r, 'seed') : 0;
      const key = `${real}/${synthetic}`;
      const arm = arms.get(key) ?? arms.set(key, { real, synthetic, runs: [] }).get(key)!;
      arm.runs.push({ seed, top1: numberAt(r, 'top1') });
    } else if (r.kind === 'classifier' && 'reference' in r.tags) {
      reference = { top1: numberAt(r, 'top1'), top5: numberAt(r, 'top5') };
    }
  }
  const augmentation: AugmentationRow[] = [...arms.values()]
    .sort((a, b) => a.real - b.real || a.synthetic - b.synthetic)
    .map((a) => {
      const runs = [...a.runs].sort((x, y) => x.seed - y.seed);
      return { real: a.real, synthetic: a.synthetic, top1: summarize(runs.map((r) => r.top1)), seeds: runs.map((r) => r.seed) };
    });
  for (const row of augmentation) {
    const base = augmentation.find((b) => b.real === row.real && b.synthetic === 0);
    if (!base || row.synthetic === 0) continue;
    row.gain = row.top1.mean - base.top1.mean;
    row.beyondStd = row.gain > Math.max(row.top1.std, base.top1.std);
  }
  return { guidance: [...byGuidance.values()].sort((a, b) => a.guidance - b.guidance), augmentation, reference };
}

/** The perClass list of a train-classifier --evaluate result, as (name, accuracy) pairs. */
function perClassOf(r: ResultRecord): { name: string; accuracy: number | null }[] {
  const list = (r.data as { perClass?: unknown }).perClass;
  if (!Array.isArray(list)) throw new InputError('expected a "perClass" list in this agreement result', { shard: r.path });
  return list.map((p, i) => {
    const { name, accuracy } = (p ?? {}) as { name?: unknown; accuracy?: unknown };
    if (accuracy !== null && (typeof accuracy !== 'number' || !Number.isFinite(accuracy))) {
      throw new InputError(`expected a number or null at "perClass.${i}.accuracy" in this agreement result`, { shard: r.path });
    }
    return { name: typeof name === 'string' ? name : String(i), accuracy };
  });
}

function tagNumber(r: ResultRecord, key: string): number {
  const v = Number(r.tags[key]);
  if (r.tags[key] === '' || !Number.isFinite(v)) throw new InputError(`the directory tag ${key}=${r.tags[key]} is not a number`, { shard: r.path });
  return v;
}

// FID and its companions over two sides (each images or saved statistics), and the per-side statistics that
// `--save-stats` writes. The extractor is opened only when a side has images.
//   FID            Fréchet distance of the two feature Gaussians (frechet.ts), statistics in float64 (stats.ts)
//   KID            kid.ts (needs the features of both sides, so images on both sides)
//   precision/recall prc.ts (likewise)
//   per-class FID  one Gaussian per `cls` value on each side; the FID of every class present on both sides
import { InputError, UsageError } from '../errors.js';
import { warn } from '../log.js';
import type { FeatureExtractor } from '../models/extractor.js';
import { frechetDistance } from './frechet.js';
import { featureBatches, imageSamples, metricInput, type ReadOptions } from './inputs.js';
import { kernelInceptionDistance, type KidOptions } from './kid.js';
import { precisionRecall } from './prc.js';
import { GaussianStats, loadStats } from './stats.js';

export interface SideOptions extends Omit<ReadOptions, 'labels'> {
  keepFeatures?: boolean;
  perClass?: boolean;
  keepLogits?: boolean;
}

/** What one side contributes. */
export interface Side {
  spec: string;
  stats: GaussianStats;
  /** Saved statistics without a count (pytorch-fid's files): n is unknown. */
  countKnown: boolean;
  features?: Float32Array; // [n, D]
  logits?: Float32Array; // [n, K]
  perClass?: Map<number, GaussianStats>;
}

function concat(parts: Float32Array[], total: number): Float32Array {
  const out = new Float32Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Reads one side: statistics from an .npz, or features of its images through the extractor. */
export async function readSide(spec: string, extractor: () => Promise<FeatureExtractor>, options: SideOptions): Promise<Side> {
  const input = metricInput(spec);
  if (input.kind === 'stats') {
    if (options.keepFeatures || options.perClass || options.keepLogits) {
      throw new UsageError(`${spec} holds statistics only: --kid, --prc, --per-class and the Inception Score need images`);
    }
    const saved = await loadStats(input.path);
    return { spec, stats: GaussianStats.fromGaussian(saved.gaussian, saved.n ?? 2), countKnown: saved.n !== undefined };
  }
  const ex = await extractor();
  const stats = new GaussianStats(ex.featureDim);
  const features: Float32Array[] = [];
  const logits: Float32Array[] = [];
  const perClass = options.perClass ? new Map<number, GaussianStats>() : undefined;
  const samples = await imageSamples(input.spec, options);
  for await (const batch of featureBatches(samples, ex, { ...options, labels: options.perClass, label: options.label ?? spec })) {
    stats.add(batch.features, batch.count);
    if (options.keepFeatures) features.push(batch.features);
    if (options.keepLogits) logits.push(batch.logits);
    if (perClass && batch.labels) {
      const d = ex.featureDim;
      batch.labels.forEach((cls, i) => {
        let s = perClass.get(cls);
        if (!s) perClass.set(cls, (s = new GaussianStats(d)));
        s.add(batch.features.subarray(i * d, (i + 1) * d), 1);
      });
    }
  }
  if (stats.n === 0) throw new InputError(`${spec}: no images were read`);
  return {
    spec,
    stats,
    countKnown: true,
    features: options.keepFeatures ? concat(features, stats.n * ex.featureDim) : undefined,
    logits: options.keepLogits ? concat(logits, stats.n * ex.numClasses) : undefined,
    perClass,
  };
}

export interface FidRequest {
  kid?: KidOptions;
  prc?: { k: number };
  perClass?: boolean;
}

export interface FidResult {
  fid: number;
  n: [number | null, number | null];
  kid?: number;
  kid_std?: number;
  kid_subset_size?: number;
  precision?: number;
  recall?: number;
  per_class?: Record<string, number>;
}

/** Warns when a side has fewer images than feature dimensions (a singular covariance; FID is biased at small N). */
export function warnSmall(side: Side): void {
  if (side.countKnown && side.stats.n < side.stats.dim) {
    warn(`${side.spec}: ${side.stats.n} images for ${side.stats.dim}-d features (fewer than ${side.stats.dim}): the covariance is singular and FID is biased upwards at small N; compare FIDs only at equal N`);
  }
}

export function fidOf(a: Side, b: Side, req: FidRequest): FidResult {
  const result: FidResult = {
    fid: frechetDistance(a.stats.gaussian(), b.stats.gaussian()),
    n: [a.countKnown ? a.stats.n : null, b.countKnown ? b.stats.n : null],
  };
  const d = a.stats.dim;
  if (req.kid) {
    const kid = kernelInceptionDistance(a.features!, b.features!, d, req.kid);
    result.kid = kid.mean;
    result.kid_std = kid.std;
    result.kid_subset_size = kid.subsetSize;
  }
  if (req.prc) Object.assign(result, precisionRecall(a.features!, b.features!, d, req.prc.k));
  if (req.perClass) {
    const perClass: Record<string, number> = {};
    const classes = [...a.perClass!.keys()].filter((c) => b.perClass!.has(c)).sort((x, y) => x - y);
    for (const c of classes) {
      const sa = a.perClass!.get(c)!;
      const sb = b.perClass!.get(c)!;
      if (sa.n < 2 || sb.n < 2) {
        warn(`class ${c}: ${sa.n} and ${sb.n} images; at least 2 per side are needed, no per-class FID`);
        continue;
      }
      perClass[String(c)] = frechetDistance(sa.gaussian(), sb.gaussian());
    }
    const only = [...new Set([...a.perClass!.keys(), ...b.perClass!.keys()])].filter((c) => !(a.perClass!.has(c) && b.perClass!.has(c)));
    if (only.length) warn(`classes present on one side only (no per-class FID): ${only.sort((x, y) => x - y).join(', ')}`);
    result.per_class = perClass;
  }
  return result;
}

export function formatFidLine(r: FidResult, specs: [string, string]): string {
  const parts = [`FID ${r.fid.toFixed(4)}`];
  if (r.kid !== undefined) parts.push(`KID ${r.kid.toFixed(6)} ± ${r.kid_std!.toFixed(6)}`);
  if (r.precision !== undefined) parts.push(`precision ${r.precision.toFixed(4)}`, `recall ${r.recall!.toFixed(4)}`);
  const count = (n: number | null) => (n === null ? 'saved statistics' : `${n} images`);
  let line = `${parts.join('  ')}  (${specs[0]}: ${count(r.n[0])}; ${specs[1]}: ${count(r.n[1])})`;
  if (r.per_class) {
    line += '\n' + Object.entries(r.per_class).map(([c, v]) => `  class ${c}: FID ${v.toFixed(4)}`).join('\n');
  }
  return line;
}

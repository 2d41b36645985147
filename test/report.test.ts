// synthaug report on a small made-up results tree: the markdown's numbers against hand-computed means,
// standard deviations and gains, and the charts decoded back with data pixels where the data is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tempDir } from './helpers/cli.js';
import { decodeImage } from '../src/images/codec.js';
import { Canvas } from '../src/images/draw.js';
import { PALETTE } from '../src/report/chart.js';
import { readResults, summarize, tabulate, tagsOf } from '../src/report/results.js';
import { accuracyChart } from '../src/report/render.js';

function put(root: string, path: string, content: unknown): void {
  const file = join(root, path);
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, typeof content === 'string' || Buffer.isBuffer(content) ? content : JSON.stringify(content));
}

/** A results tree as the Makefile writes it, with round numbers. */
function makeResults(root: string): void {
  const guidance: [number, number, number, number, number][] = [
    // w, fid, is mean, is std, cas top-1
    [0, 30.5, 4.1, 0.11, 0.52],
    [1.5, 12.25, 6.2, 0.2, 0.71],
    [5, 40, 8.9, 0.3, 0.33],
  ];
  for (const [w, fid, is, isStd, cas] of guidance) {
    put(root, `guidance=${w}/fid.json`, { fid });
    put(root, `guidance=${w}/is.json`, { inception_score_mean: is, inception_score_std: isStd });
    put(root, `guidance=${w}/cas.json`, { cas: { top1: cas, top5: 0.9 }, trainImages: { generated: 100 }, steps: { generated: 10 } });
  }
  put(root, 'guidance=1.5/grid.png', new Canvas(8, 8, 1, 0).toPng());
  // real=100: real only 0.80/0.82/0.84 (mean 82, std 2); 2× 0.85/0.86/0.87 (mean 86, std 1, gain +4 > 2);
  // 10× 0.83/0.80/0.86 (mean 83, std 3, gain +1, not beyond 3). real=1000: one seed each.
  const arms: [number, number, number[]][] = [
    [100, 0, [0.8, 0.82, 0.84]],
    [100, 2, [0.85, 0.86, 0.87]],
    [100, 10, [0.83, 0.8, 0.86]],
    [1000, 0, [0.9]],
    [1000, 2, [0.895]],
  ];
  for (const [real, synthetic, top1s] of arms) {
    top1s.forEach((top1, i) => put(root, `real=${real}/synthetic=${synthetic}/seed=${i + 1}/classifier.json`, { top1, top5: 0.99, count: 1000 }));
  }
  put(root, 'reference/classifier.json', { top1: 0.9312, top5: 0.9993 });
  // The pretraining ran twice (rebuilt): its last time counts, once.
  put(root, 'times.jsonl', '{"step":"pretrain","seconds":1800}\n{"step":"classifier real=100 synthetic=0 seed=1","seconds":65}\n{"step":"pretrain","seconds":3600}\n{"step":"classifier real=100 synthetic=2 seed=1","seconds":70}\n');
  put(root, 'machine.txt', 'cpus: 2\n');
  put(root, 'logs/pretrain.log', 'ignored\n');
}

test('tags come from key=value directories; summaries use n − 1', () => {
  assert.deepEqual(tagsOf(join('real=100', 'synthetic=2', 'seed=3')), { real: '100', synthetic: '2', seed: '3' });
  assert.deepEqual(tagsOf(join('reference')), { reference: '' });
  const s = summarize([0.8, 0.82, 0.84]);
  assert.ok(Math.abs(s.mean - 0.82) < 1e-12 && Math.abs(s.std - 0.02) < 1e-12 && s.n === 3);
  assert.deepEqual(summarize([5]), { mean: 5, std: 0, n: 1 });
});

test('tabulate gathers guidance rows and augmentation arms with gains', async (t) => {
  const root = tempDir(t);
  makeResults(root);
  const tables = tabulate(await readResults(root));
  assert.deepEqual(tables.guidance.map((r) => r.guidance), [0, 1.5, 5]);
  assert.deepEqual(tables.guidance[1], { guidance: 1.5, fid: 12.25, isMean: 6.2, isStd: 0.2, casTop1: 0.71, casTop5: 0.9 });
  assert.deepEqual(tables.augmentation.map((r) => [r.real, r.synthetic, r.seeds.length]), [[100, 0, 3], [100, 2, 3], [100, 10, 3], [1000, 0, 1], [1000, 2, 1]]);
  const two = tables.augmentation[1];
  assert.ok(Math.abs(two.gain! - 0.04) < 1e-12 && two.beyondStd === true);
  const ten = tables.augmentation[2];
  assert.ok(Math.abs(ten.gain! - 0.01) < 1e-12 && ten.beyondStd === false);
  assert.deepEqual(tables.reference, { top1: 0.9312, top5: 0.9993 });
});

test('agreement results add a column, a table a class and a chart panel', async (t) => {
  const root = tempDir(t);
  makeResults(root);
  const perClass = (a: number, b: number | null) => [
    { index: 0, name: 'shirt', count: 10, correct: 10 * a, accuracy: a },
    { index: 1, name: 'bag', count: b === null ? 0 : 10, correct: b === null ? 0 : 10 * b, accuracy: b },
  ];
  put(root, 'guidance=0/agreement.json', { top1: 0.55, top5: 1, perClass: perClass(0.6, 0.5) });
  put(root, 'guidance=1.5/agreement.json', { top1: 0.9, top5: 1, perClass: perClass(0.8, null) });
  const tables = tabulate(await readResults(root));
  assert.equal(tables.guidance[1].agreement, 0.9);
  assert.deepEqual(tables.guidance[1].agreementPerClass, [{ name: 'shirt', accuracy: 0.8 }, { name: 'bag', accuracy: null }]);
  const out = join(root, 'report');
  const r = await runCli(['report', root, '-o', out]);
  assert.equal(r.code, 0, r.stderr);
  const lines = readFileSync(join(out, 'report.md'), 'utf8').split('\n');
  assert.ok(lines.includes('| 1.5 | 12.25 | 6.20 ± 0.20 | 71.00 | 90.00 | 90.00 |'), 'agreement column');
  assert.ok(lines.includes('| 5 | 40.00 | 8.90 ± 0.30 | 33.00 | 90.00 | – |'), 'no agreement measured at w = 5');
  assert.ok(lines.includes('| class | w = 0 | w = 1.5 |'));
  assert.ok(lines.includes('| shirt | 60.0 | 80.0 |') && lines.includes('| bag | 50.0 | – |'), 'a row a class');
  // Four panels now: FID, IS, CAS, agreement.
  const g = await decodeImage(readFileSync(join(out, 'guidance.png')), { width: 960, height: 640, channels: 3, resize: 'none' });
  let found = false;
  for (let y = 320; y < 640 && !found; y++) {
    for (let x = 480; x < 960 && !found; x++) {
      const i = (y * 960 + x) * 3;
      found = g[i] === PALETTE[0][0] && g[i + 1] === PALETTE[0][1] && g[i + 2] === PALETTE[0][2];
    }
  }
  assert.ok(found, 'a data line in the agreement panel');
  put(root, 'guidance=0/agreement.json', { top1: 0.55 });
  assert.match((await runCli(['report', root, '-o', out])).stderr, /guidance=0\/agreement\.json.*perClass/);
});

test('synthaug report writes the markdown tables and charts', async (t) => {
  const root = tempDir(t);
  const results = join(root, 'results');
  makeResults(results);
  const out = join(root, 'report');
  const r = await runCli(['report', results, '-o', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.length, 0, 'nothing on stdout');
  const md = readFileSync(join(out, 'report.md'), 'utf8');
  const lines = md.split('\n');
  const row = (prefix: string) => lines.find((l) => l.startsWith(prefix));
  assert.equal(row('| 1.5 |'), '| 1.5 | 12.25 | 6.20 ± 0.20 | 71.00 | 90.00 |');
  assert.equal(row('| 100 | none'), '| 100 | none (real only) | 82.00 ± 2.00 | 1, 2, 3 | – |');
  assert.equal(row('| 100 | 2×'), '| 100 | 2× real | 86.00 ± 1.00 | 1, 2, 3 | +4.00 (> 1 std) |');
  assert.equal(row('| 100 | 10×'), '| 100 | 10× real | 83.00 ± 3.00 | 1, 2, 3 | +1.00 |');
  assert.equal(row('| 1000 | 2×'), '| 1000 | 2× real | 89.50 ± 0.00 | 1 | −0.50 |');
  assert.match(md, /lowest FID at w = 1\.5; highest CAS at w = 1\.5\./);
  assert.match(md, /top-1 93\.12%, top-5 99\.93%/);
  assert.match(md, /!\[guidance 1\.5\]\(\.\.\/results\/guidance=1\.5\/grid\.png\)/);
  assert.match(md, /\| pretrain \| 1 \| 1h00m \|/);
  assert.match(md, /\| classifier \| 2 \| 2m15s \|/);
  assert.match(md, /\| total \| 3 \| /);
  assert.match(md, /cpus: 2/);
  assert.doesNotMatch(md, /ignored/);

  // The guidance figure: FID, IS and CAS panels (no Inception FID here), two to a row of 480×320.
  const guidance = readFileSync(join(out, 'guidance.png'));
  const g = await decodeImage(guidance, { width: 960, height: 640, channels: 3, resize: 'none' });
  const hasSeriesColour = (x0: number, y0: number) => {
    for (let y = y0; y < y0 + 320; y++) {
      for (let x = x0; x < x0 + 480; x++) {
        const i = (y * 960 + x) * 3;
        if (g[i] === PALETTE[0][0] && g[i + 1] === PALETTE[0][1] && g[i + 2] === PALETTE[0][2]) return true;
      }
    }
    return false;
  };
  assert.ok(hasSeriesColour(0, 0) && hasSeriesColour(480, 0) && hasSeriesColour(0, 320), 'a data line in each panel');
  assert.ok(!hasSeriesColour(480, 320), 'the fourth cell is empty');

  // The accuracy chart: markers at each arm's mean, in its series' colour.
  const acc = await decodeImage(readFileSync(join(out, 'accuracy.png')), { width: 560, height: 360, channels: 3, resize: 'none' });
  const { layout } = accuracyChart(tabulate(await readResults(results)).augmentation)!;
  const at = (x: number, y: number) => Array.from(acc.subarray((y * 560 + x) * 3, (y * 560 + x) * 3 + 3));
  for (const [synthetic, mean, series] of [[0, 82, 0], [2, 86, 0], [10, 83, 0], [0, 90, 1], [2, 89.5, 1]]) {
    const [px, py] = layout.toPixel(synthetic, mean);
    assert.deepEqual(at(px, py), [...PALETTE[series]], `marker of ${synthetic}× at ${mean}%`);
  }
});

test('report errors name the file: a missing field, bad JSON, no directory', async (t) => {
  const root = tempDir(t);
  put(root, 'guidance=1/fid.json', { distance: 3 });
  const r = await runCli(['report', root, '-o', join(root, 'out')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /guidance=1\/fid\.json.*"fid"/);
  put(root, 'guidance=1/fid.json', '{"fid": ');
  assert.match((await runCli(['report', root, '-o', join(root, 'out')])).stderr, /fid\.json: not JSON/);
  const missing = await runCli(['report', join(root, 'nope'), '-o', join(root, 'out')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nope/);
});

// FID, KID, precision/recall and IS of the real Inception path against pytorch-fid's own code
// (fixtures/make_fid_parity_fixtures.py), both sides running the FID Inception-v3 with the formula weights of
// fixtures/make_inception_fixtures.py: features of two image folders (one image grayscale) to 1e-4, FID through
// the command line (weights read from a file) to 1e-3; Pillow's antialiased bicubic (clean-fid's resize).
// Runs on WASM.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '../src/backend/index.js';
import { relErr } from '../src/backend/compare.js';
import { FIDInceptionV3 } from '../src/models/inception.js';
import { inceptionExtractor, INCEPTION_WEIGHTS_URL } from '../src/models/inception-extractor.js';
import { exportTorchState } from '../src/models/torch.js';
import { encodeSafetensors } from '../src/nn/safetensors.js';
import { decodeNpy } from '../src/nn/npz.js';
import { featureBatches, imageSamples } from '../src/metrics/inputs.js';
import { inceptionScore } from '../src/metrics/inception-score.js';
import { resizeBicubicAntialias } from '../src/images/resample.js';
import { loadFormulaWeights } from './helpers/inception-formula.js';
import { runCli, tempDir } from './helpers/cli.js';

const dir = fileURLToPath(new URL('../../fixtures/fid-parity/', import.meta.url));
const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as {
  fid: number;
  fid_stats_a: number;
  kid: number;
  precision: number;
  recall: number;
  is_b_splits3: [number, number];
};
const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

before(async () => {
  await initBackend('wasm');
});

async function folderOutputs(net: FIDInceptionV3, folder: string): Promise<{ features: Float32Array; logits: Float32Array }> {
  const ex = inceptionExtractor(net, 'pytorch-fid');
  const feats: number[] = [];
  const logits: number[] = [];
  for await (const b of featureBatches(await imageSamples(join(dir, folder), {}), ex, { batchSize: 50 })) {
    feats.push(...b.features);
    logits.push(...b.logits);
  }
  return { features: Float32Array.from(feats), logits: Float32Array.from(logits) };
}

test("Inception features of image folders agree with pytorch-fid's get_activations to 1e-4; IS of b/ with the formula", async () => {
  const net = new FIDInceptionV3();
  try {
    loadFormulaWeights(net);
    for (const side of ['a', 'b']) {
      const want = decodeNpy(readFileSync(join(dir, `features_${side}.npy`)), side).data as Float32Array;
      const { features, logits } = await folderOutputs(net, side);
      const err = relErr(features, want);
      assert.ok(err <= 1e-4, `${side}/: features differ by ${err}`);
      if (side === 'b') {
        const is = inceptionScore(logits, 1008, 3);
        // the formula network's IS is close to 1: compare what is above 1
        assert.ok(rel(is.mean - 1, expected.is_b_splits3[0] - 1) < 1e-3, `IS ${is.mean} vs ${expected.is_b_splits3[0]}`);
        assert.ok(rel(is.std, expected.is_b_splits3[1]) < 1e-3, `IS std ${is.std} vs ${expected.is_b_splits3[1]}`);
      }
    }
  } finally {
    net.dispose();
  }
});

test('synthaug fid a/ b/ --inception-weights FILE equals pytorch-fid (FID 1e-3; KID, precision, recall from its features)', async (t) => {
  const tmp = tempDir(t);
  const weights = join(tmp, 'inception.safetensors');
  const net = new FIDInceptionV3();
  try {
    loadFormulaWeights(net);
    writeFileSync(weights, encodeSafetensors(exportTorchState(net)));
  } finally {
    net.dispose();
  }
  const r = await runCli(['fid', join(dir, 'a'), join(dir, 'b'), '--inception-weights', weights, '--kid', '--prc', '--json', '--backend', 'wasm']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout.toString()) as { fid: number; kid: number; precision: number; recall: number; n: number[] };
  assert.deepEqual(out.n, [6, 6]);
  assert.ok(rel(out.fid, expected.fid) < 1e-3, `FID ${out.fid} vs pytorch-fid ${expected.fid}`);
  assert.ok(rel(out.kid, expected.kid) < 1e-3, `KID ${out.kid} vs ${expected.kid}`);
  assert.equal(out.precision, expected.precision);
  assert.equal(out.recall, expected.recall);
  assert.match(r.stderr, /fewer than 2048/);
});

test('missing Inception weights: exit 1 naming the file and where pytorch-fid publishes it', async () => {
  const r = await runCli(['fid', join(dir, 'a'), join(dir, 'b')], { env: { SYNTHAUG_INCEPTION_WEIGHTS: '' } });
  assert.equal(r.code, 1);
  assert.ok(r.stderr.includes('pt_inception-2015-12-05-6726825d.pth') && r.stderr.includes(INCEPTION_WEIGHTS_URL), r.stderr);
  const r2 = await runCli(['fid', join(dir, 'a'), join(dir, 'b'), '--inception-weights', '/nonexistent/pt_inception.pth']);
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /\/nonexistent\/pt_inception\.pth does not exist/);
});

test("Pillow's antialiased BICUBIC on float images (clean-fid's resize), down and up", () => {
  const cases = JSON.parse(readFileSync(join(dir, 'resample.json'), 'utf8')) as Array<{ in: [number, number, number]; out: [number, number]; input: number[]; expected: number[] }>;
  for (const c of cases) {
    const got = resizeBicubicAntialias(c.input, c.in[0], c.in[1], c.in[2], c.out[0], c.out[1]);
    const err = relErr(got, c.expected);
    assert.ok(err < 1e-6, `${c.in} → ${c.out}: ${err}`);
  }
});

// synthaug sample: labelled synthetic images (png, cls, json) from a diffusion model directory, with
// classifier-free guidance, as shards through the usual sinks; optionally a contact sheet (--grid).
// Sample g (global index) has class classes[g mod K] and its noise from (--seed, g): see
// src/diffusion/generate.ts. TensorFlow.js and the model load only when the command runs.
import type { Argv, CommandModule } from 'yargs';
import { InputError, UsageError, invalidParameterError } from '../errors.js';
import type { BackendChoice } from '../backend/index.js';
import { debug, warn } from '../log.js';
import { nonNegativeInt, nonNegativeNumber, oneOf, positiveInt } from '../options.js';
import { partition, withMeta, writeSink, type Sample } from '../shards/index.js';
import { partitionArgs, sinkArgs, sinkOptionsFrom, type SinkArgs } from './common.js';
import { writeFileAtomic } from '../util/atomic.js';

interface SampleArgs extends SinkArgs {
  model: string;
  'per-class'?: number;
  count?: number;
  classes?: string;
  guidance: number;
  steps: number;
  sampler: string;
  seed: number;
  'batch-size': number;
  weights: string;
  grid?: string;
  'grid-columns': number;
  'shard-index': number;
  'num-shards': number;
  backend: BackendChoice;
}

/** Class indices from "a,b" (names, or indices 0..N−1); an unknown one is an InputError listing the model's classes. */
export function resolveClasses(spec: string | undefined, classNames: readonly string[], model: string): number[] {
  if (spec === undefined) return classNames.map((_, i) => i);
  const tokens = spec.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (tokens.length === 0) throw invalidParameterError('classes', 'class names or indices, comma-separated', spec);
  return tokens.map((token) => {
    const byName = classNames.indexOf(token);
    if (byName >= 0) return byName;
    if (/^\d+$/.test(token) && Number(token) < classNames.length) return Number(token);
    const known = classNames.map((name, i) => `${i} ${name}`).join(', ');
    throw new InputError(`${model}: the model has no class ${JSON.stringify(token)} (its classes: ${known})`);
  });
}

export const sampleCommand: CommandModule<object, SampleArgs> = {
  command: 'sample',
  describe: 'Generate labelled images (png, cls, json) from a diffusion model directory, with classifier-free guidance',
  builder: async (y: Argv) => {
    const [{ backendOption }, { SAMPLER_NAMES }] = await Promise.all([import('../backend/cli.js'), import('../diffusion/samplers.js')]);
    return backendOption(partitionArgs(sinkArgs(y), 'make'))
      .option('model', { alias: 'm', type: 'string', demandOption: true, describe: 'The diffusion model directory (written by finetune)' })
      .option('per-class', { type: 'number', describe: 'Images per class (of --classes, default all)' })
      .option('count', { type: 'number', describe: 'Images in all, the classes taken in turn' })
      .option('classes', { type: 'string', describe: 'Classes to sample, names or indices, comma-separated (default: all)' })
      .option('guidance', {
        type: 'number',
        default: 1,
        describe: 'Classifier-free guidance weight w: ε̃ = ε_u + w(ε_c − ε_u); 1 = conditional, 0 = unconditional',
      })
      .option('sampler', { type: 'string', choices: SAMPLER_NAMES, default: 'heun', describe: 'ddpm (ancestral), ddim (η = 0), heun (EDM 2nd order), dpmpp-2m' })
      .option('steps', { type: 'number', default: 18, describe: 'Sampler steps (heun makes 2·steps − 1 network evaluations, the others one a step)' })
      .option('seed', { type: 'number', default: 0, describe: 'Seed: sample g draws its noise from (seed, g)' })
      .option('batch-size', { type: 'number', default: 64, describe: 'Images per network call (twice that with guidance ≠ 0, 1); does not change the images' })
      .option('weights', { type: 'string', choices: ['ema', 'raw'], default: 'ema', describe: 'Which weights of the model directory to sample from' })
      .option('grid', { type: 'string', describe: 'Also write a contact sheet PNG here: one labelled row per class' })
      .option('grid-columns', { type: 'number', default: 10, describe: 'Images per row of --grid' })
      .example("$0 sample -m model --per-class 1000 --guidance 1.5 -o 'synth-%06d.tar' --max-count 5000", '')
      .example('$0 sample -m model --count 20 --classes sneaker,bag --seed 3 --grid sheet.png > few.tar', '')
      .example('$0 sample -m model --per-class 100 --shard-index 1 --num-shards 4 > part1.tar', "this worker's quarter") as unknown as Argv<SampleArgs>;
  },
  handler: async (args) => {
    const sink = sinkOptionsFrom(args);
    const { index: shardIndex, count: numShards } = partition({
      shardIndex: nonNegativeInt('shard-index', args['shard-index'] ?? 0),
      numShards: positiveInt('num-shards', args['num-shards'] ?? 1),
    });
    if ((args['per-class'] === undefined) === (args.count === undefined)) throw new UsageError('give either --per-class N or --count N');
    const perClass = args['per-class'] === undefined ? undefined : positiveInt('per-class', args['per-class']);
    const count = args.count === undefined ? undefined : positiveInt('count', args.count);
    let guidance = nonNegativeNumber('guidance', args.guidance);
    const steps = positiveInt('steps', args.steps);
    const { SAMPLER_NAMES } = await import('../diffusion/samplers.js');
    const sampler = oneOf('sampler', SAMPLER_NAMES, args.sampler);
    const seed = nonNegativeInt('seed', args.seed);
    const batchSize = positiveInt('batch-size', args['batch-size']);
    const weights = oneOf('weights', ['ema', 'raw'] as const, args.weights);
    const gridColumns = positiveInt('grid-columns', args['grid-columns']);

    const [{ initBackend }, { loadDiffusionModel }, gen, { progress }] = await Promise.all([
      import('../backend/index.js'),
      import('../diffusion/model.js'),
      import('../diffusion/generate.js'),
      import('../stages/progress.js'),
    ]);
    const backend = await initBackend(args.backend);
    debug(`backend ${backend.name}`);
    const model = await loadDiffusionModel(args.model, { weights });
    try {
      const conditional = model.config.conditional && model.classNames.length > 0;
      if (!conditional && args.classes !== undefined) throw new InputError(`${args.model} was trained without labels: it has no classes for --classes`);
      const classes = conditional ? resolveClasses(args.classes, model.classNames, args.model) : [];
      if (!conditional && guidance !== 0) {
        warn(`${args.model} was trained without labels: sampling unconditionally (--guidance 0), without cls`);
        guidance = 0;
      }
      const total = count ?? perClass! * Math.max(classes.length, 1);
      const indices: number[] = [];
      for (let g = shardIndex; g < total; g += numShards) indices.push(g);
      const classOf = (g: number) => (conditional ? gen.classOfIndex(classes, g) : model.denoiser.numClasses);
      const [h, w] = model.denoiser.imageShape;
      const c = model.denoiser.imageShape[2] as 1 | 3;
      // --grid rows: one per class of --classes, or one row for an unconditional model (key −1).
      const rowKeys = conditional ? classes.filter((k, i) => classes.indexOf(k) === i) : [-1];
      const grid = new Map<number, Uint8Array[]>(rowKeys.map((k) => [k, []]));
      const { encodePng } = await import('../images/codec.js');
      const started = performance.now();
      let batches = 0;
      const options = {
        sampler,
        steps,
        guidance,
        seed,
        batchSize,
        onStep: (step: number, of: number) => {
          if (step === of) debug(`batch ${++batches} of ${Math.ceil(indices.length / batchSize)} done (${sampler}, ${steps} steps)`);
        },
      };
      const width = String(Math.max(total - 1, 0)).length;
      async function* samples(): AsyncGenerator<Sample> {
        for await (const image of gen.generateImages(model.denoiser, indices, classOf, options)) {
          const label = conditional ? image.label : undefined;
          const row = grid.get(label ?? -1)!;
          if (args.grid !== undefined && row.length < gridColumns) row.push(image.pixels);
          const fields: Record<string, Buffer> = { png: encodePng(image.pixels, { width: w, height: h, channels: c }) };
          if (label !== undefined) fields.cls = Buffer.from(String(label));
          yield withMeta(
            { key: `sample-${String(image.index).padStart(Math.max(width, 6), '0')}`, fields },
            {
              ...(label !== undefined ? { class: model.classNames[label] } : {}),
              source: 'synthetic',
              index: image.index,
              seed,
              guidance,
              steps,
              sampler,
              model_digest: model.digest,
              weights,
            },
          );
        }
      }
      const result = await writeSink(progress({ total: indices.length, label: 'sample' })(samples()), sink);
      const secs = (performance.now() - started) / 1000;
      warn(`sampled ${result.samples} images in ${secs.toFixed(1)} s (${(result.samples / secs).toFixed(2)} images/s, ${sampler}, ${steps} steps, backend ${backend.kind})`);
      if (args.grid !== undefined) {
        const { contactSheet } = await import('../images/contact-sheet.js');
        const rows = rowKeys.map((k) => ({ label: k < 0 ? 'unconditional' : model.classNames[k], images: grid.get(k)! }));
        await writeFileAtomic(args.grid, contactSheet(rows, { width: w, height: h, channels: c }).toPng());
      }
    } finally {
      model.dispose();
    }
  },
};

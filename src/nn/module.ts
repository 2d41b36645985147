// A minimal module system over tfjs-core: named trainable parameters and buffers (running statistics),
// composed into trees whose dotted names ("layer1.0.conv1.weight") are the keys of the weights file.
import * as tf from '@tensorflow/tfjs-core';

export interface ForwardContext {
  /** Training mode: batch statistics in normalisation layers, running statistics updated, dropout on. */
  training: boolean;
  /**
   * Seed of this forward pass's dropout masks (each Dropout layer mixes in its own seed). Training loops
   * derive it from (seed, step) so that a resumed run draws the masks a straight run draws; without it a
   * layer counts its calls.
   */
  dropoutSeed?: number;
}

export abstract class Module {
  private readonly ownParams = new Map<string, tf.Variable>();
  private readonly ownBuffers = new Map<string, tf.Variable>();
  private readonly children = new Map<string, Module>();

  abstract forward(x: tf.Tensor, ctx: ForwardContext): tf.Tensor;

  /** Registers a child; its parameters appear under `name.`. */
  protected child<M extends Module>(name: string, module: M): M {
    if (this.children.has(name)) throw new Error(`duplicate child module ${name}`);
    this.children.set(name, module);
    return module;
  }

  /** Registers a trainable parameter, taking ownership of `init`. */
  protected param(name: string, init: tf.Tensor): tf.Variable {
    if (this.ownParams.has(name) || this.ownBuffers.has(name)) throw new Error(`duplicate parameter ${name}`);
    const v = tf.variable(init, true);
    init.dispose();
    this.ownParams.set(name, v);
    return v;
  }

  /** Registers a non-trainable state tensor (e.g. a running mean), taking ownership of `init`. */
  protected buffer(name: string, init: tf.Tensor): tf.Variable {
    if (this.ownParams.has(name) || this.ownBuffers.has(name)) throw new Error(`duplicate buffer ${name}`);
    const v = tf.variable(init, false);
    init.dispose();
    this.ownBuffers.set(name, v);
    return v;
  }

  /** Trainable parameters with dotted names, in registration order. */
  namedParameters(prefix = ''): Array<[string, tf.Variable]> {
    const out: Array<[string, tf.Variable]> = [];
    for (const [n, v] of this.ownParams) out.push([prefix + n, v]);
    for (const [n, m] of this.children) out.push(...m.namedParameters(`${prefix}${n}.`));
    return out;
  }

  /** Non-trainable state with dotted names, in registration order. */
  namedBuffers(prefix = ''): Array<[string, tf.Variable]> {
    const out: Array<[string, tf.Variable]> = [];
    for (const [n, v] of this.ownBuffers) out.push([prefix + n, v]);
    for (const [n, m] of this.children) out.push(...m.namedBuffers(`${prefix}${n}.`));
    return out;
  }

  /** Everything that a weights file holds: parameters then buffers. */
  stateDict(): Map<string, tf.Variable> {
    return new Map([...this.namedParameters(), ...this.namedBuffers()]);
  }

  /** Copies values into this module's state; names and shapes must match exactly. */
  loadStateDict(values: Map<string, tf.Tensor> | Record<string, tf.Tensor>, { strict = true } = {}): void {
    const source = values instanceof Map ? values : new Map(Object.entries(values));
    const state = this.stateDict();
    const mismatch = strict ? weightNameMismatch(state.keys(), source.keys()) : undefined;
    if (mismatch) throw new Error(`weights do not match the model: ${mismatch}`);
    for (const [name, v] of state) {
      const t = source.get(name);
      if (!t) continue;
      if (t.shape.join(',') !== v.shape.join(',')) {
        throw new Error(`weights for ${name} have shape [${t.shape}] but the model expects [${v.shape}]`);
      }
      v.assign(t.dtype === v.dtype ? t : tf.cast(t, v.dtype));
    }
  }

  numParameters(): number {
    return this.namedParameters().reduce((n, [, v]) => n + v.size, 0);
  }

  /** Frees the parameters and buffers, and whatever the modules of the tree hold besides (their dispose). */
  dispose(): void {
    for (const v of [...this.ownParams.values(), ...this.ownBuffers.values()]) v.dispose();
    for (const m of this.children.values()) m.dispose();
  }
}

/**
 * How a set of weight names differs from the names a model expects: "missing [a, b], unexpected [c]"
 * (five names of each at most, then the count), or undefined when they are the same names.
 */
export function weightNameMismatch(expected: Iterable<string>, given: Iterable<string>): string | undefined {
  const want = new Set(expected);
  const have = new Set(given);
  const missing = [...want].filter((k) => !have.has(k));
  const unexpected = [...have].filter((k) => !want.has(k));
  if (missing.length === 0 && unexpected.length === 0) return undefined;
  const list = (xs: string[]) => xs.slice(0, 5).join(', ') + (xs.length > 5 ? `, … (${xs.length} in all)` : '');
  return `missing [${list(missing)}], unexpected [${list(unexpected)}]`;
}

/** Applies children in order. */
export class Sequential extends Module {
  private readonly layers: Module[];
  constructor(layers: Module[]) {
    super();
    this.layers = layers.map((m, i) => this.child(String(i), m));
  }
  forward(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    return this.layers.reduce((h, layer) => layer.forward(h, ctx), x);
  }
}

/** A parameter-free function as a module (activations, pooling, flatten). */
export class Lambda extends Module {
  constructor(private readonly fn: (x: tf.Tensor) => tf.Tensor) {
    super();
  }
  forward(x: tf.Tensor): tf.Tensor {
    return this.fn(x);
  }
}

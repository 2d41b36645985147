// The label set of a classifier: class index → class name, established from the data (cls + json
// `class`) or from a classifier directory, and checked on every sample that follows. A name seen under
// two indices, or two names for one index (between train and test data, or generated and real), is an
// InputError naming the shard and key: synthaug never relabels silently.
import { InputError } from '../errors.js';
import { sampleLabel, sampleMeta, type Sample } from '../shards/sample.js';

/** The data sets disagree about the classes: never skipped by --skip-bad (it is not one bad sample). */
export class LabelSetError extends InputError {
  override name = 'LabelSetError';
}

export class LabelSet {
  /** names[i] is the name of class i, or undefined while no sample has named it. */
  private readonly names: Array<string | undefined> = [];
  private readonly indexOf = new Map<string, number>();
  /** Where each name was first seen, for the error message. */
  private readonly firstSeen = new Map<number, string>();
  private fixed?: number;

  /**
   * @param origin what established the names, for messages ("the training data", "classifier dir clf/")
   */
  constructor(readonly origin = 'the training data') {}

  /** A label set from saved class names (a classifier directory); '' or null marks an unnamed class. */
  static fromNames(names: ReadonlyArray<string | null | undefined>, origin: string): LabelSet {
    const set = new LabelSet(origin);
    names.forEach((n, i) => set.add(i, n || undefined, origin));
    set.fix(names.length);
    return set;
  }

  /** Number of classes: fixed by fix(), else the largest index seen + 1. */
  get numClasses(): number {
    return this.fixed ?? this.names.length;
  }

  get isFixed(): boolean {
    return this.fixed !== undefined;
  }

  /** Fixes the number of classes (the model's output width); later labels must lie below it. */
  fix(numClasses: number): void {
    if (numClasses < this.names.length) {
      throw new RangeError(`cannot fix ${numClasses} classes: label ${this.names.length - 1} was already seen`);
    }
    this.fixed = numClasses;
  }

  /** Class names for a classifier directory: the name, or '' for a class no sample named. */
  classNames(): string[] {
    return Array.from({ length: this.numClasses }, (_, i) => this.names[i] ?? '');
  }

  /** Names for reports: the name, or the index as a string. */
  displayNames(): string[] {
    return Array.from({ length: this.numClasses }, (_, i) => this.names[i] ?? String(i));
  }

  /** The label of `sample` (from cls), checked against the set and its json `class` name. */
  observe(sample: Sample): number {
    const label = sampleLabel(sample);
    const cls = sampleMeta(sample).class;
    const name = typeof cls === 'string' && cls !== '' ? cls : undefined;
    this.add(label, name, describe(sample), sample);
    return label;
  }

  private add(label: number, name: string | undefined, where: string, sample?: Sample): void {
    if (this.fixed !== undefined && label >= this.fixed) {
      throw new LabelSetError(
        `label ${label} is outside the ${this.fixed} classes of the classifier (0..${this.fixed - 1}, from ${this.origin})`,
        sample,
      );
    }
    while (this.names.length <= label) this.names.push(undefined);
    if (name === undefined) return;
    const known = this.names[label];
    if (known !== undefined && known !== name) {
      throw new LabelSetError(
        `label ${label} is named ${JSON.stringify(name)} here but ${JSON.stringify(known)} in ${this.origin} ` +
          `(first seen at ${this.firstSeen.get(label)}); class names must agree across train and test data`,
        sample,
      );
    }
    const other = this.indexOf.get(name);
    if (other !== undefined && other !== label) {
      throw new LabelSetError(
        `class ${JSON.stringify(name)} has label ${label} here but label ${other} in ${this.origin} ` +
          `(first seen at ${this.firstSeen.get(other)}); class names must agree across train and test data`,
        sample,
      );
    }
    if (known === undefined) {
      this.names[label] = name;
      this.indexOf.set(name, label);
      this.firstSeen.set(label, where);
    }
  }

  /** Checks another label set against this one (each index and name must agree), naming `other.origin`. */
  checkCompatible(other: LabelSet): void {
    other.names.forEach((name, i) => {
      if (name !== undefined) this.add(i, name, `${other.origin} (${other.firstSeen.get(i) ?? 'saved names'})`);
    });
  }
}

function describe(sample: Sample): string {
  return [sample.shard && `shard ${sample.shard}`, `sample ${sample.key}`].filter(Boolean).join(', ');
}

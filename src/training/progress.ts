// Training progress on stderr — a cli-progress bar (loss, accuracy where there is one, images/s, ETA) when stderr is a
// terminal, otherwise one line per epoch — and the JSON-lines log in the output directory.
import { appendFileSync } from 'node:fs';
import cliProgress from 'cli-progress';
import { formatDuration } from '../log.js';

/**
 * One line of log.jsonl. `type` is "train" (one per epoch, or per --log-every steps) or "val"; every line
 * has the pass (`epoch`, from 0), the `step` and the seconds since training started (`elapsed`, summed
 * over resumed runs); train lines add lr, loss, imagesPerSec, peakRssMB and the task's statistics
 * (acc for a classifier), val lines the evaluation's figures.
 */
export type LogRecord = { type: 'train' | 'val'; epoch: number; step: number; elapsed: number } & Record<string, number | string>;

export class JsonLog {
  constructor(private readonly path: string | undefined) {}
  write(record: LogRecord): void {
    if (this.path) appendFileSync(this.path, `${JSON.stringify(record)}\n`);
  }
}

export interface ProgressSink {
  /**
   * A new epoch of `steps` steps (undefined when the pass length is unknown) begins; or, with `run`, one bar
   * over a whole run by steps, labelled "steps", starting at the step a resumed run continues from.
   */
  startEpoch(epoch: number, epochs: number | undefined, steps: number | undefined, run?: { from: number }): void;
  update(stepInEpoch: number, values: ProgressValues): void;
  /** A line shown under the bar, or printed. */
  line(text: string): void;
  stop(): void;
}

/** What the bar shows: the running loss and throughput, and the accuracy where the task has one. */
export interface ProgressValues {
  loss: number;
  acc?: number;
  imagesPerSec: number;
}

function fmt(v: ProgressValues): string {
  const acc = v.acc === undefined ? '' : `  acc ${(100 * v.acc).toFixed(2)}%`;
  return `loss ${v.loss.toFixed(4)}${acc}  ${v.imagesPerSec.toFixed(1)} img/s`;
}

/** Lines only (stderr not a terminal): the caller prints one line per epoch through line(). */
class Lines implements ProgressSink {
  constructor(private readonly stream: NodeJS.WritableStream) {}
  startEpoch(): void {}
  update(): void {}
  line(text: string): void {
    this.stream.write(`synthaug: ${text}\n`);
  }
  stop(): void {}
}

class Bar implements ProgressSink {
  private readonly bar: cliProgress.SingleBar;
  private started = false;
  constructor(private readonly stream: NodeJS.WritableStream) {
    this.bar = new cliProgress.SingleBar(
      {
        stream,
        format: '{label} [{bar}] {value}/{total} | loss {loss}{acc} | {ips} img/s | ETA {eta_formatted}',
        hideCursor: true,
        clearOnComplete: false,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
  }
  startEpoch(epoch: number, epochs: number | undefined, steps: number | undefined, run?: { from: number }): void {
    const label = run ? 'steps' : epochLabel(epoch, epochs);
    if (this.started) this.bar.stop();
    this.bar.start(steps ?? 0, run?.from ?? 0, { label, loss: '-', acc: '', ips: '-' });
    this.started = true;
  }
  update(stepInEpoch: number, v: ProgressValues): void {
    if (this.bar.getTotal() < stepInEpoch) this.bar.setTotal(stepInEpoch);
    const acc = v.acc === undefined ? '' : ` | acc ${(100 * v.acc).toFixed(1)}%`;
    this.bar.update(stepInEpoch, { loss: v.loss.toFixed(4), acc, ips: v.imagesPerSec.toFixed(0) });
  }
  line(text: string): void {
    if (this.started) {
      this.bar.stop();
      this.started = false;
    }
    this.stream.write(`synthaug: ${text}\n`);
  }
  stop(): void {
    if (this.started) this.bar.stop();
    this.started = false;
  }
}

class Silent implements ProgressSink {
  startEpoch(): void {}
  update(): void {}
  line(): void {}
  stop(): void {}
}

export type ProgressMode = 'auto' | 'bar' | 'lines' | 'none';

/** A bar when stderr is a terminal (auto), else lines; 'none' for library use and tests. */
export function createProgress(mode: ProgressMode, stream: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr): ProgressSink {
  if (mode === 'none') return new Silent();
  if (mode === 'bar' || (mode === 'auto' && stream.isTTY)) return new Bar(stream);
  return new Lines(stream);
}

/** "epoch 3/7" when the number of epochs is known, else "pass 3" (epoch counted from 0). */
export function epochLabel(epoch: number, epochs: number | undefined): string {
  return epochs ? `epoch ${epoch + 1}/${epochs}` : `pass ${epoch + 1}`;
}

export function epochLine(epoch: number, epochs: number | undefined, step: number, lr: number, v: ProgressValues, elapsed: number): string {
  return `${epochLabel(epoch, epochs)} step ${step}  lr ${lr.toPrecision(3)}  ${fmt(v)}  ${formatDuration(elapsed)}`;
}


// A progress bar on stderr (cli-progress) that counts samples passing through; a no-op unless
// stderr is a terminal (docs/design.md: bars only on a terminal, never on stdout). cli-progress is
// loaded only then.
import type { Stage } from '../shards/sample.js';

export interface ProgressOptions {
  /** Samples expected, when known; otherwise the bar shows only the count. */
  total?: number;
  label?: string;
  /** Default: process.stderr. The bar is drawn only when this stream is a TTY. */
  stream?: NodeJS.WriteStream;
}

export function progress({ total, label = 'samples', stream = process.stderr }: ProgressOptions = {}): Stage {
  return async function* counted(samples) {
    if (!stream.isTTY) {
      yield* samples;
      return;
    }
    const { default: cliProgress } = await import('cli-progress');
    const format = total ? `${label} [{bar}] {value}/{total} {percentage}% eta {eta_formatted}` : `${label} {value}`;
    const bar = new cliProgress.SingleBar({ stream, format, hideCursor: true, clearOnComplete: false, etaBuffer: 200 }, cliProgress.Presets.shades_classic);
    bar.start(total ?? 0, 0);
    try {
      for await (const sample of samples) {
        yield sample;
        bar.increment();
      }
    } finally {
      bar.stop();
    }
  };
}

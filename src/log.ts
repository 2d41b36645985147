// Diagnostics go to stderr only: stdout carries data (tar bytes or a metric result).
let verbose = false;

export function setVerbose(on: boolean): void {
  verbose = on;
}

/** A warning or note the user should always see. */
export function warn(message: string): void {
  process.stderr.write(`synthaug: ${message}\n`);
}

/** Detail shown only with --verbose. */
export function debug(message: string): void {
  if (verbose) process.stderr.write(`synthaug: ${message}\n`);
}

/** A duration for people: 45s, 3m07s, 2h05m. */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

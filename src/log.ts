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

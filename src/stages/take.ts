// Stop a stream after n samples (closing the upstream, so sources stop reading).
import type { Stage } from '../shards/sample.js';

export function take(n: number): Stage {
  return async function* taken(samples) {
    if (n <= 0) return;
    let count = 0;
    for await (const sample of samples) {
      yield sample;
      if (++count >= n) return;
    }
  };
}

// A set of kernels synthaug registers over a tfjs backend's own: the WASM SIMD kernels (wasm/kernels.ts)
// and the oneDNN kernels (native/kernels.ts) both run on the WASM backend, the second over the first.

export interface KernelSet {
  /** 'wasm' or 'native'. */
  readonly name: string;
  /** The kernel names the set registers. */
  readonly names: readonly string[];
  /** Make the set usable in this process (load its code); throws, saying why and the remedy, where it cannot be. */
  load(): void;
  /** Register the set's kernels over whatever is registered under their names. Idempotent. */
  register(): void;
  /** Put back what register() replaced. */
  unregister(): void;
}

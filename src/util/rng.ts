// Seeded pseudo-random numbers. Every random choice in synthaug draws from one of these,
// so that the same --seed and inputs give the same bytes.

/** SplitMix64 step, used to expand a user seed into well-mixed 32-bit state words. */
function splitmix32(seed: number): () => number {
  let s = BigInt.asUintN(64, BigInt(Math.floor(seed)));
  return () => {
    s = BigInt.asUintN(64, s + 0x9e3779b97f4a7c15n);
    let z = s;
    z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
    z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
    z = z ^ (z >> 31n);
    return Number(z & 0xffffffffn);
  };
}

/** xoshiro128** (Blackman & Vigna 2018): small, fast, good statistical quality. */
export class Rng {
  private s: Uint32Array;

  constructor(seed: number) {
    const next = splitmix32(seed);
    this.s = new Uint32Array([next(), next(), next(), next()]);
    if (this.s.every((v) => v === 0)) this.s[0] = 1;
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 bits of precision. */
  random(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.random() * n);
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.random();
    const v = this.random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Fisher–Yates shuffle in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }

  /** An independent generator derived from this one (for per-worker or per-epoch streams). */
  fork(): Rng {
    return new Rng(this.nextU32() * 4294967296 + this.nextU32());
  }
}

/**
 * A 53-bit seed for one stream of random draws, derived from the user's seed, a purpose ('shuffle',
 * 'augment', 'per-class', ...) and an index (a step, a pass, a sample key), so that a draw depends on
 * where it is used and not on what was drawn before it (docs/design.md, Conventions). Two FNV-1a hashes
 * of the UTF-8 text `seed:purpose:index` with different offsets, each through murmur3's finaliser
 * fmix32 so that every input bit reaches every output bit; 21 bits of one and 32 of the other.
 */
export function subSeed(seed: number, purpose: string, index: number | string): number {
  const bytes = Buffer.from(`${seed}:${purpose}:${index}`, 'utf8');
  const hash = (offset: number) => {
    let h = offset >>> 0;
    for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0; // FNV-1a, 32-bit prime
    return fmix32(h);
  };
  return (hash(0x811c9dc5) & 0x1fffff) * 4294967296 + hash(0x811c9dc5 ^ 0x5bd1e995);
}

/** murmur3's 32-bit finaliser (Appleby, MurmurHash3): an avalanche over all bits. */
function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

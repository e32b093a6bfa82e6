/**
 * Seeded random numbers. Everything random in crystal-rl takes a seed or an `Rng`; the same seed
 * gives the same numbers on every platform (the generator is pure 32-bit integer arithmetic).
 *
 * Generator: sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, from PractRand), whose 128-bit
 * state is filled by splitmix32 from a 64-bit key. The key is a hash of the seed and of the fork path,
 * so `new Rng(7).fork(3)` is the same stream however many numbers the parent drew before forking.
 *
 * @example
 * const rng = new Rng(42);
 * rng.next();            // in [0, 1)
 * rng.uniform(60, 120);  // in [60, 120)
 * rng.int(6);            // 0..5
 * rng.normal();          // standard normal
 * const streams = [0, 1, 2].map((k) => rng.fork(k)); // independent child streams
 */
export class Rng {
  /** The seed this stream (or its root ancestor) was made from. */
  readonly seed: number;
  /** Fork indices from the root: `new Rng(1).fork(2).fork(5).path` is [2, 5]. */
  readonly path: readonly number[];
  private readonly keyA: number;
  private readonly keyB: number;
  private a = 0;
  private b = 0;
  private c = 0;
  private d = 0;
  private spare: number | null = null;

  /** `seed`: any safe integer (negative ones too); `path`: fork indices, as `fork` builds them. */
  constructor(seed: number, path: readonly number[] = []) {
    checkInteger("seed", seed);
    for (const k of path) checkInteger("fork index", k);
    this.seed = seed;
    this.path = Object.freeze([...path]);
    // Two 32-bit lanes of key, so that distinct (seed, path) pairs practically never collide.
    const [lo, hi] = split64(seed);
    let ka = fmix32(lo ^ 0x243f6a88);
    let kb = fmix32(hi ^ fmix32(lo + 0x85a308d3));
    for (const k of path) {
      const [klo, khi] = split64(k);
      ka = fmix32((ka ^ fmix32(klo + 0x13198a2e)) + khi);
      kb = fmix32((kb + 0x03707344) ^ fmix32(ka ^ khi));
    }
    this.keyA = ka >>> 0;
    this.keyB = kb >>> 0;
    // splitmix32 over the key fills the sfc32 state; sfc32 then runs a few rounds to mix it.
    let s = this.keyA ^ Math.imul(this.keyB, 0x9e3779b9);
    const next = (): number => {
      s = (s + 0x9e3779b9) | 0;
      return fmix32(s ^ this.keyB);
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = 1; // sfc32's counter
    for (let i = 0; i < 15; i++) this.uint32();
  }

  /** A random 32-bit unsigned integer. */
  uint32(): number {
    // sfc32: a += b ^ counter..., all modulo 2^32.
    let { a, b, c, d } = this;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    this.a = a;
    this.b = b;
    this.c = c;
    this.d = d;
    return t >>> 0;
  }

  /** Uniform in [0, 1), with 32 random bits (steps of 2^-32). */
  next(): number {
    return this.uint32() / 4294967296;
  }

  /** Uniform in [lo, hi); `uniform(x, x)` is x. */
  uniform(lo: number, hi: number): number {
    if (!Number.isFinite(lo) || !Number.isFinite(hi) || hi < lo) {
      throw new RangeError(`uniform(lo, hi) needs finite lo <= hi, got ${lo}, ${hi}`);
    }
    return lo + (hi - lo) * this.next();
  }

  /** A uniform integer in 0..n-1 (unbiased: rejection sampling), for 1 <= n <= 2^32. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 4294967296) {
      throw new RangeError(`int(n) needs an integer n in 1..2^32, got ${n}`);
    }
    // Reject the top partial block of 2^32 so that every residue is equally likely.
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const x = this.uint32();
      if (x < limit) return x % n;
    }
  }

  /** A normal deviate (Box–Muller; the second value of each pair is kept for the next call). */
  normal(mean = 0, sd = 1): number {
    if (this.spare !== null) {
      const z = this.spare;
      this.spare = null;
      return mean + sd * z;
    }
    const u = 1 - this.next(); // (0, 1]: log(u) is finite
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return mean + sd * r * Math.cos(2 * Math.PI * v);
  }

  /** Shuffles `array` in place (Fisher–Yates) and returns it. */
  shuffle<T>(array: T[]): T[] {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = array[i]!;
      array[i] = array[j]!;
      array[j] = t;
    }
    return array;
  }

  /** A uniformly chosen element of a non-empty array. */
  choice<T>(array: readonly T[]): T {
    if (array.length === 0) throw new RangeError("choice() of an empty array");
    return array[this.int(array.length)]!;
  }

  /**
   * An independent child stream, number `k`. It depends only on this stream's seed and path and on
   * `k`, not on how many numbers this stream has drawn, so work item k can always find its stream.
   */
  fork(k: number): Rng {
    return new Rng(this.seed, [...this.path, k]);
  }
}

/** An `Rng` as is, or a new one seeded with a number. */
export function toRng(rngOrSeed: Rng | number): Rng {
  return rngOrSeed instanceof Rng ? rngOrSeed : new Rng(rngOrSeed);
}

function checkInteger(what: string, x: number): void {
  if (!Number.isSafeInteger(x)) throw new RangeError(`${what} must be a safe integer, got ${x}`);
}

/** Low and high 32-bit words of a safe integer (two's complement for negative numbers). */
function split64(x: number): [number, number] {
  const lo = x >>> 0;
  const hi = Math.floor(x / 4294967296) >>> 0;
  return [lo, hi];
}

/** MurmurHash3's 32-bit finaliser: an invertible mix in which every input bit affects every output bit. */
function fmix32(h: number): number {
  h |= 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

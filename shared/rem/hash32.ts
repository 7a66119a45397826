// Fast non-cryptographic 32-bit string hashing: the offline embedder's feature buckets and the scale simulation's
// ring and seeds. Deterministic across processes and platforms (no Math.random, no process-specific seed).

/**
 * 32-bit FNV-1a over UTF-16 code units from an offset basis varied by `seed` (so two seeds give independent hashes),
 * then fmix32 so near-identical strings spread.
 */
export function hash32(s: string, seed = 0): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

/** murmur3's 32-bit finaliser: spreads hashes of near-identical inputs (FNV-1a alone leaves them close). */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

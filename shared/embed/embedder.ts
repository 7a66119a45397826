// The Embedder seam: turns texts into fixed-dimension, L2-normalised vectors.
// Implementations: the offline hashed-feature embedder (default) and transformers.js with a local model.

export interface Embedder {
  /** Stable identifier recorded per tenant, e.g. `hash-ngram-v1` or `transformers:<model>`. */
  readonly id: string;
  readonly dimension: number;
  /** One vector per text, each of length `dimension` and unit L2 norm (zero vector for empty text). */
  embed(texts: readonly string[]): Promise<Float32Array[]>;
  close?(): Promise<void>;
}

export class EmbedderMismatchError extends Error {
  readonly code = 'embedder_mismatch';
}

/** L2-normalises in place; leaves an all-zero vector untouched. */
export function l2normalize(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i]! * v[i]!;
  if (sum > 0) {
    const inv = 1 / Math.sqrt(sum);
    for (let i = 0; i < v.length; i++) v[i] = v[i]! * inv;
  }
  return v;
}

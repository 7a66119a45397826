// Deterministic, embedding-like benchmark data: unit vectors drawn around cluster centres that live in a
// low-rank subspace (as real sentence embeddings do), each with a short text from its cluster's vocabulary.
// Uniformly random vectors are avoided on purpose: HNSW recall on them is pathological and unlike real data.
import { mulberry32 } from '../scripts/prng.js';

export { mulberry32 };

export function gaussian(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

export interface DatasetOptions {
  count: number;
  dimension?: number;
  clusters?: number;
  /** Rank of the subspace the cluster centres span. */
  rank?: number;
  /** Spread of points around their centre, relative to the centre's norm. */
  noise?: number;
  seed?: number;
  queries?: number;
}

export interface Dataset {
  dimension: number;
  vectors: Float32Array[];
  texts: string[];
  cluster: Int32Array;
  queries: Float32Array[];
}

const SYLLABLES = ['ka', 'lo', 'mi', 'ne', 'ru', 'ta', 'vi', 'zo', 'pe', 'su', 'do', 'fa', 'gi', 'ho', 'ju', 'be'];
const COMMON = ['data', 'system', 'memory', 'record', 'agent', 'model', 'value', 'report', 'event', 'note'];

function normalize(v: Float32Array): Float32Array {
  let s = 0;
  for (const x of v) s += x * x;
  const inv = 1 / Math.sqrt(s || 1);
  for (let i = 0; i < v.length; i++) v[i] = v[i]! * inv;
  return v;
}

export function makeDataset(opts: DatasetOptions): Dataset {
  const dimension = opts.dimension ?? 384;
  const clusters = opts.clusters ?? Math.max(10, Math.round(Math.sqrt(opts.count)));
  const rank = opts.rank ?? 48;
  const noise = opts.noise ?? 0.6;
  const rand = mulberry32(opts.seed ?? 42);
  const basis = Array.from({ length: rank }, () => Float32Array.from({ length: dimension }, () => gaussian(rand)));
  const centres = Array.from({ length: clusters }, () => {
    const c = new Float32Array(dimension);
    for (const b of basis) {
      const w = gaussian(rand);
      for (let i = 0; i < dimension; i++) c[i] = c[i]! + w * b[i]!;
    }
    return normalize(c);
  });
  const vocab = Array.from({ length: clusters }, (_, c) =>
    Array.from({ length: 12 }, (_, j) => {
      const r = mulberry32(c * 7919 + j);
      return Array.from({ length: 3 }, () => SYLLABLES[Math.floor(r() * SYLLABLES.length)]).join('') + c.toString(36);
    }),
  );
  const point = (c: number): Float32Array => {
    const centre = centres[c]!;
    const v = new Float32Array(dimension);
    const scale = noise / Math.sqrt(dimension);
    for (let i = 0; i < dimension; i++) v[i] = centre[i]! + scale * gaussian(rand) * 2;
    return normalize(v);
  };
  const vectors: Float32Array[] = [];
  const texts: string[] = [];
  const cluster = new Int32Array(opts.count);
  for (let n = 0; n < opts.count; n++) {
    const c = Math.floor(rand() * clusters);
    cluster[n] = c;
    vectors.push(point(c));
    const words: string[] = [];
    for (let w = 0; w < 12; w++) {
      words.push(rand() < 0.7 ? vocab[c]![Math.floor(rand() * 12)]! : COMMON[Math.floor(rand() * COMMON.length)]!);
    }
    texts.push(`document ${n} ${words.join(' ')}`);
  }
  const queries = Array.from({ length: opts.queries ?? 200 }, () => point(Math.floor(rand() * clusters)));
  return { dimension, vectors, texts, cluster, queries };
}

/** Exact top-k by cosine (inputs are unit vectors, so dot product) — the ground truth for recall. */
export function bruteForceTopK(vectors: readonly Float32Array[], q: Float32Array, k: number): number[] {
  const best: { i: number; s: number }[] = [];
  for (let i = 0; i < vectors.length; i++) {
    const v = vectors[i]!;
    let s = 0;
    for (let d = 0; d < q.length; d++) s += q[d]! * v[d]!;
    if (best.length < k) {
      best.push({ i, s });
      best.sort((a, b) => b.s - a.s);
    } else if (s > best[k - 1]!.s) {
      best[k - 1] = { i, s };
      best.sort((a, b) => b.s - a.s);
    }
  }
  return best.map((b) => b.i);
}

export function recallAtK(found: readonly number[], truth: readonly number[]): number {
  const t = new Set(truth);
  let hit = 0;
  for (const f of found) if (t.has(f)) hit++;
  return hit / truth.length;
}

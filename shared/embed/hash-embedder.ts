// The default offline embedder: feature hashing of words, word bigrams and character trigrams into 384 signed
// buckets, sublinear term weighting, L2-normalised. Deterministic and model-free, therefore LEXICAL: it finds texts
// that share words and spellings, not paraphrases. Use the transformers.js embedder for semantic similarity.
import { l2normalize, type Embedder } from './embedder.js';
import { hash32 } from '../rem/hash32.js';
import { words } from '../rem/text.js';
import { TimeSlice } from '../rem/time-slice.js';

// FNV-1a with a seed, so the sign and the bucket come from independent hashes (shared/rem/hash32.ts)
const fnv1a = hash32;

const WORD_WEIGHT = 1.0;
const BIGRAM_WEIGHT = 0.7;
const TRIGRAM_WEIGHT = 0.35;

export class HashEmbedder implements Embedder {
  readonly id = 'hash-ngram-v1';
  readonly dimension: number;

  constructor(dimension = 384) {
    this.dimension = dimension;
  }

  embedOne(text: string): Float32Array {
    const counts = new Map<string, number>();
    const add = (feature: string, weight: number) => counts.set(feature, (counts.get(feature) ?? 0) + weight);
    const ws = words(text);
    for (let i = 0; i < ws.length; i++) {
      const w = ws[i]!;
      add('w:' + w, WORD_WEIGHT);
      if (i + 1 < ws.length) add('b:' + w + ' ' + ws[i + 1], BIGRAM_WEIGHT);
      const padded = '<' + w + '>';
      for (let j = 0; j + 3 <= padded.length; j++) add('c:' + padded.slice(j, j + 3), TRIGRAM_WEIGHT);
    }
    const v = new Float32Array(this.dimension);
    for (const [feature, weight] of counts) {
      const h = fnv1a(feature, 0);
      const sign = fnv1a(feature, 0x9e3779b9) & 1 ? 1 : -1;
      // sublinear tf: repeated words count, but not linearly
      const bucket = h % this.dimension;
      v[bucket] = v[bucket]! + sign * Math.log1p(weight);
    }
    return l2normalize(v);
  }

  /**
   * Embeds in time slices, yielding to the event loop between them: a batch of a thousand texts takes
   * a few hundred milliseconds of CPU, which must not stall every other tenant's requests.
   */
  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    const slice = new TimeSlice();
    for (const t of texts) {
      if (slice.due()) await slice.pause();
      out.push(this.embedOne(t));
    }
    return out;
  }
}

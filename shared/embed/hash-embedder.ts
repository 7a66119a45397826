// The default offline embedder: feature hashing of words, word bigrams and character trigrams into 384 signed
// buckets, sublinear term weighting, L2-normalised. Deterministic and model-free, therefore LEXICAL: it finds texts
// that share words and spellings, not paraphrases. Use the transformers.js embedder for semantic similarity.
import { l2normalize, type Embedder } from './embedder.js';
import { hash32 } from '../rem/hash32.js';
import { SLICED_TEXT_CHARS, words, wordsSliced } from '../rem/text.js';
import { TimeSlice } from '../rem/time-slice.js';

// FNV-1a with a seed, so the sign and the bucket come from independent hashes (shared/rem/hash32.ts)
const fnv1a = hash32;

const WORD_WEIGHT = 1.0;
const BIGRAM_WEIGHT = 0.7;
const TRIGRAM_WEIGHT = 0.35;
/** Words whose features are counted between two looks at the clock (about a millisecond). */
const FEATURE_WORDS_PER_CHECK = 1024;

export class HashEmbedder implements Embedder {
  readonly id = 'hash-ngram-v1';
  readonly dimension: number;

  constructor(dimension = 384) {
    this.dimension = dimension;
  }

  embedOne(text: string): Float32Array {
    const counts = new Map<string, number>();
    const ws = words(text);
    this.addFeatures(counts, ws, 0, ws.length);
    return this.vectorOf(counts);
  }

  /** embedOne() of a long text, giving the event loop a turn whenever `slice` is used up: the same vector. */
  private async embedSliced(text: string, slice: TimeSlice): Promise<Float32Array> {
    const counts = new Map<string, number>();
    const ws = await wordsSliced(text, slice);
    for (let i = 0; i < ws.length; i += FEATURE_WORDS_PER_CHECK) {
      this.addFeatures(counts, ws, i, Math.min(ws.length, i + FEATURE_WORDS_PER_CHECK));
      if (slice.due()) await slice.pause();
    }
    return this.vectorOf(counts);
  }

  /** The features of words[from..to): each word, its bigram with the next word (of the whole text), its trigrams. */
  private addFeatures(counts: Map<string, number>, ws: readonly string[], from: number, to: number): void {
    const add = (feature: string, weight: number) => counts.set(feature, (counts.get(feature) ?? 0) + weight);
    for (let i = from; i < to; i++) {
      const w = ws[i]!;
      add('w:' + w, WORD_WEIGHT);
      if (i + 1 < ws.length) add('b:' + w + ' ' + ws[i + 1], BIGRAM_WEIGHT);
      const padded = '<' + w + '>';
      for (let j = 0; j + 3 <= padded.length; j++) add('c:' + padded.slice(j, j + 3), TRIGRAM_WEIGHT);
    }
  }

  private vectorOf(counts: Map<string, number>): Float32Array {
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
      // a text of a million characters takes 250-300 ms in one piece
      out.push(t.length > SLICED_TEXT_CHARS ? await this.embedSliced(t, slice) : this.embedOne(t));
    }
    return out;
  }
}

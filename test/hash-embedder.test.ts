import { describe, expect, it } from 'vitest';
import { HashEmbedder } from '../shared/embed/hash-embedder.js';
import { countTurns } from './support/wait.js';

const cos = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);

describe('offline hash embedder', () => {
  const e = new HashEmbedder(384);

  it('produces 384-dimension unit vectors and the zero vector for text without words', async () => {
    const [v, empty] = await e.embed(['some text', '  ... ']);
    expect(v!.length).toBe(384);
    expect(cos(v!, v!)).toBeCloseTo(1, 5);
    expect(empty!.every((x) => x === 0)).toBe(true);
  });

  it('is lexical: shared words and spellings raise similarity, meaning alone does not', async () => {
    const [a, typo, synonym] = await e.embed(['replication lag', 'replicaton lag', 'copy delay']);
    expect(cos(a!, typo!)).toBeGreaterThan(0.3);
    expect(cos(a!, typo!)).toBeGreaterThan(cos(a!, synonym!));
  });

  it('records its id and dimension', () => {
    expect(e.id).toBe('hash-ngram-v1');
    expect(e.dimension).toBe(384);
  });

  it('embeds a text of a million characters in time slices, into the vector of the one-piece embedding', async () => {
    const text = Array.from({ length: 60_000 }, (_, i) => `word${i % 5000} text`).join(' ').slice(0, 1_000_000);
    const turns = countTurns();
    const [v] = await e.embed([text]);
    expect(turns.stop()).toBeGreaterThan(10);
    expect(v).toEqual(e.embedOne(text));
  });
});

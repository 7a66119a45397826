// One contract every Embedder must satisfy, run against each implementation.
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import type { Embedder } from '../shared/embed/embedder.js';
import { embedderFactories } from './support/embedders.js';
import { cosine, norm } from './support/vectors.js';


describe.each(embedderFactories)('Embedder contract: $name', ({ create }) => {
  let embedder: Embedder;
  beforeAll(async () => {
    embedder = await create();
  });
  afterAll(async () => {
    await embedder.close?.();
  });

  it('returns one unit-length vector of the declared dimension per text', async () => {
    const out = await embedder.embed(['hello world', 'the quick brown fox jumps']);
    expect(out).toHaveLength(2);
    for (const v of out) {
      expect(v).toBeInstanceOf(Float32Array);
      expect(v.length).toBe(embedder.dimension);
      expect(norm(v)).toBeCloseTo(1, 4);
    }
  });

  it('is deterministic: the same text gives the same vector', async () => {
    const [a] = await embedder.embed(['vector databases store embeddings']);
    const [b] = await embedder.embed(['vector databases store embeddings']);
    expect(Array.from(a!)).toEqual(Array.from(b!));
  });

  it('places texts that share words closer than unrelated texts', async () => {
    const [q, near, far] = await embedder.embed([
      'database replication with jetstream',
      'jetstream replication for the database nodes',
      'apple banana orange smoothie recipe',
    ]);
    expect(cosine(q!, near!)).toBeGreaterThan(cosine(q!, far!));
  });

  it('has a stable non-empty id', () => {
    expect(embedder.id.length).toBeGreaterThan(0);
  });
});

import { describe, expect, it } from 'vitest';
import { normalizeKey, stem, terms, termsSliced, words, wordsSliced } from '../shared/rem/text.js';
import { TimeSlice } from '../shared/rem/time-slice.js';
import { countTurns } from './support/wait.js';

describe('tokenizer', () => {
  it('lowercases, splits on non-word characters and keeps unicode letters and digits', () => {
    expect(words('Hello, World! Café-au-lait 42x')).toEqual(['hello', 'world', 'café-au-lait', '42x']);
  });

  it('drops stopwords and stems plurals and verb endings for the keyword index', () => {
    expect(terms('The indexes are running and the queries stopped')).toEqual(['index', 'run', 'query', 'stop']);
  });

  it('stems conservatively: short words and words with digits stay as they are', () => {
    expect(stem('bus')).toBe('bus');
    expect(stem('class')).toBe('class');
    expect(stem('v2s')).toBe('v2s');
    expect(stem('databases')).toBe('database');
  });

  it('normalises natural keys for case- and space-insensitive lookup', () => {
    expect(normalizeKey('  Ada   LOVELACE\t')).toBe('ada lovelace');
  });

  it('ignores tokens longer than 64 characters', () => {
    expect(words('a'.repeat(65) + ' ok')).toEqual(['ok']);
  });

  it('splits a long text in time slices into exactly the words and terms of the one-piece split', async () => {
    // fragments where a cut would change the answer: combining marks, Greek sigma (lowercased by context), NFKC
    // ligatures, apostrophes and hyphens inside and at the end of words, words over 64 characters, surrogate pairs
    const pieces = ['ab', 'ΑΣ', 'Σ', 'σ.Β', 'e\u0301', '\u0301', "'", '-', ' ', '.', ',', '\n', 'İ', 'ﬁne', '42', 'x'.repeat(70), 'running', 'the', '😀', '_', "don't", 'co-op-'];
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 5; round++) {
      let text = '';
      while (text.length < 60_000) text += pieces[Math.floor(next() * pieces.length)];
      expect(await wordsSliced(text, new TimeSlice(0))).toEqual(words(text));
      expect(await termsSliced(text, new TimeSlice(0))).toEqual(terms(text));
    }
  });

  it('gives the event loop turns while it splits a text of a million characters', async () => {
    const text = 'large record text '.repeat(55_000);
    const turns = countTurns();
    const got = await termsSliced(text, new TimeSlice(1));
    expect(turns.stop()).toBeGreaterThan(10);
    expect(got).toEqual(terms(text));
  });
});

import { describe, expect, it } from 'vitest';
import { normalizeKey, stem, terms, words } from '../shared/rem/text.js';

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
});

// Entity extraction heuristics: people, organisations, e-mails, URLs, hashtags; counts, order and the bound.
import { describe, expect, it } from 'vitest';
import { extractEntities, type ExtractedEntity } from '../shared/ingest/extract.js';

const keys = (list: ExtractedEntity[], type: ExtractedEntity['type']) => list.filter((e) => e.type === type).map((e) => e.key).sort();
const run = (text: string, entitiesMax = 1000) => extractEntities(text, { entitiesMax });

describe('extractEntities', () => {
  it('finds e-mail addresses (lowercased keys) without taking them for URLs or people', () => {
    const out = run('Write to Ada.Lovelace@Example.ORG or support@percolate.dev today.');
    expect(keys(out, 'email')).toEqual(['ada.lovelace@example.org', 'support@percolate.dev']);
    expect(keys(out, 'url')).toEqual([]);
    expect(out.find((e) => e.type === 'email' && e.key === 'ada.lovelace@example.org')!.name).toBe('Ada.Lovelace@Example.ORG');
  });

  it('finds URLs and drops trailing punctuation', () => {
    const out = run('See https://example.com/docs?a=1&b=2. Also (http://foo.org/x), and https://bar.io/path/!');
    expect(keys(out, 'url')).toEqual(['http://foo.org/x', 'https://bar.io/path/', 'https://example.com/docs?a=1&b=2']);
  });

  it('finds hashtags but not markdown headings, issue numbers or URL fragments', () => {
    const out = run('# Heading\nLoving #AI and #rem-db, again #ai. Issue #42 and https://x.org/page#section.');
    expect(keys(out, 'hashtag')).toEqual(['ai', 'rem-db']);
    expect(out.find((e) => e.key === 'ai')!.mentions).toBe(2);
    expect(out.find((e) => e.key === 'ai')!.name).toBe('#AI');
  });

  it('finds people: two to four capitalised words, titles, initials, names joined by "and"', () => {
    const out = run(
      'When Ada Lovelace wrote to Charles Babbage, nobody listened. Dr. Grace Hopper met J. Presper Eckert. ' +
        'Alice Smith and Bob Jones went to Paris. Prof. Turing smiled.',
    );
    expect(keys(out, 'person')).toEqual(['ada lovelace', 'alice smith', 'bob jones', 'charles babbage', 'grace hopper', 'j. presper eckert', 'turing']);
  });

  it('finds organisations by their institutional or corporate word, including "of" names', () => {
    const out = run('She studied at the University of Oxford, then joined Acme Corporation. Later Acme Inc. Then the Bank of England called.');
    expect(keys(out, 'organization')).toEqual(['acme corporation', 'acme inc.', 'bank of england', 'university of oxford']);
    expect(keys(out, 'person')).toEqual([]);
  });

  it('does not take headings, sentence starts, calendar words or acronyms for names', () => {
    const out = run('THE END. Thank You. Monday Morning came. In March we met. The Report was long. NASA and IBM.');
    expect(keys(out, 'person')).toEqual([]);
    expect(keys(out, 'organization')).toEqual([]);
  });

  it('does not take title-case headings, product names or camel case for people; keeps real name shapes', () => {
    const out = run(
      "Extended Attributes. Word Documents. OpenDocument Spreadsheet. Shared MIME-info Database. Icon Naming Specification. " +
        "The X Desktop Group's spec. Jean-Luc Picard met Conan O'Brien and Ronald McDonald.",
    );
    expect(keys(out, 'person')).toEqual(["conan o'brien", 'jean-luc picard', 'ronald mcdonald']);
    expect(keys(out, 'organization')).toEqual(['x desktop group']);
  });

  it('counts mentions, orders by count, and keeps at most entitiesMax', () => {
    const text = 'Ada Lovelace. Ada Lovelace again. Alan Turing. #rem #rem #rem mail a@b.co';
    const out = run(text);
    expect(out[0]).toEqual({ type: 'hashtag', key: 'rem', name: '#rem', mentions: 3 });
    expect(out[1]).toEqual({ type: 'person', key: 'ada lovelace', name: 'Ada Lovelace', mentions: 2 });
    expect(run(text, 2)).toHaveLength(2);
    expect(run(text, 0)).toEqual([]);
  });
});

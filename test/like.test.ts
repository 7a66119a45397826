// The LIKE matcher (shared/query/values.ts): linear-time, with exactly the semantics of the RegExp it replaced (the old
// construction is kept here as the oracle), and cooperative with the query's time bound on huge texts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Budget, DEFAULT_BOUNDS } from '../shared/query/bounds.js';
import { likeMatcher, likePrefix } from '../shared/query/values.js';

/** The LIKE compilation before the matcher: an anchored backtracking RegExp (`su` flags). */
function oldLikeRegExp(pattern: string): RegExp {
  let src = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\' && i + 1 < pattern.length) src += escapeRegExp(pattern[++i]!);
    else if (c === '%') src += '.*';
    else if (c === '_') src += '.';
    else src += escapeRegExp(c);
  }
  return new RegExp(`^${src}$`, 'su');
}

function escapeRegExp(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

const like = (pattern: string, text: string) => likeMatcher(pattern).test(text);

// small alphabets, so that random patterns and texts actually match each other often
const PIECES = ['a', 'b', '%', '_', '\\', '\n', '.', '😀', '\ud83d', '\ude00', 'é', '*', '(', '$'];
const TEXT_PIECES = ['a', 'b', '\n', '.', '😀', '\ud83d', '\ude00', 'é', '%', '_', '\\', '*'];
const pieces = (from: string[], max: number) => fc.array(fc.constantFrom(...from), { maxLength: max }).map((xs) => xs.join(''));

describe('LIKE matcher', () => {
  it('anchors, and treats %, _ and \\ as documented', () => {
    expect(like('abc', 'abc')).toBe(true);
    expect(like('abc', 'abcd')).toBe(false);
    expect(like('abc', 'xabc')).toBe(false);
    expect(like('a%c', 'ac')).toBe(true);
    expect(like('a%c', 'a\n\nc')).toBe(true);
    expect(like('a_c', 'abc')).toBe(true);
    expect(like('a_c', 'ac')).toBe(false);
    expect(like('a_c', 'a😀c')).toBe(true);
    expect(like('a__c', 'a😀c')).toBe(false);
    expect(like('a\\%c', 'a%c')).toBe(true);
    expect(like('a\\%c', 'abc')).toBe(false);
    expect(like('a\\_c', 'abc')).toBe(false);
    expect(like('a\\', 'a\\')).toBe(true);
    expect(like('%', '')).toBe(true);
    expect(like('', '')).toBe(true);
    expect(like('', 'a')).toBe(false);
    expect(like('%b%b%', 'abab')).toBe(true);
    expect(like('%b%b%', 'ab')).toBe(false);
    expect(like('A%', 'abc')).toBe(false);
    // a middle segment does not overlap the segment before it
    expect(like('a%_b%', 'ab')).toBe(false);
    expect(like('a%_b%', 'axb')).toBe(true);
    // a lone surrogate in the pattern is not half of a pair in the text
    expect(like('%\ud83d%', 'x😀x')).toBe(false);
    expect(like('%\ud83d%', 'x\ud83dx')).toBe(true);
  });

  it('agrees with the old RegExp construction on random patterns and texts', () => {
    fc.assert(
      fc.property(pieces(PIECES, 10), pieces(TEXT_PIECES, 12), (pattern, text) => {
        expect(like(pattern, text)).toBe(oldLikeRegExp(pattern).test(text));
      }),
      { numRuns: 20_000 },
    );
  });

  it('agrees with the old RegExp construction over a two-letter alphabet (dense matches and near-misses)', () => {
    fc.assert(
      fc.property(pieces(['a', 'b', '%', '_'], 9), pieces(['a', 'b'], 8), (pattern, text) => {
        expect(like(pattern, text)).toBe(oldLikeRegExp(pattern).test(text));
      }),
      { numRuns: 20_000 },
    );
  });

  it('agrees with the old RegExp construction on texts built from the pattern (mostly matches)', () => {
    // a text derived from the pattern: each % becomes a random run, each _ one random character
    const derived = pieces(PIECES, 10).chain((pattern) =>
      fc
        .array(pieces(TEXT_PIECES, 3), { minLength: pattern.length, maxLength: pattern.length })
        .map((fills) => {
          let text = '';
          for (let i = 0; i < pattern.length; i++) {
            const c = pattern[i]!;
            if (c === '\\' && i + 1 < pattern.length) text += pattern[++i]!;
            else if (c === '%') text += fills[i]!;
            else if (c === '_') text += fills[i]![0] ?? 'a';
            else text += c;
          }
          return [pattern, text] as const;
        }),
    );
    fc.assert(
      fc.property(derived, ([pattern, text]) => {
        expect(like(pattern, text)).toBe(oldLikeRegExp(pattern).test(text));
      }),
      { numRuns: 20_000 },
    );
  });

  it('is linear where the RegExp backtracks: several % over a long text', () => {
    const text = 'a'.repeat(200_000);
    const started = performance.now();
    expect(like('%a%a%a%a%a%a%a%a%b', text)).toBe(false);
    expect(like('%a_a%a_a%a_a%', text)).toBe(true);
    expect(like('%_a_a_a_a_a_a_a_a_b%', text)).toBe(false);
    expect(performance.now() - started).toBeLessThan(2000);
    // literals found far into a long text, across the windows the search goes through
    for (const at of [0, 16 * 1024 - 3, 16 * 1024, 100_001]) {
      const long = `${'x'.repeat(at)}a long needle, longer than sixteen${'y'.repeat(50_000)}`;
      expect(like('%a long needle, longer than sixteen%', long)).toBe(true);
      expect(like('%a long needle, longer than sixteen_%', long)).toBe(true);
      expect(like('%a long needle, longer than sixteeN%', long)).toBe(false);
      expect(like(`%x_a long%y`, long)).toBe(at >= 2);
    }
  });

  it('stops when the query runs out of time', () => {
    const budget = new Budget({ ...DEFAULT_BOUNDS, timeMsMax: 5 });
    // O(text x pattern): every position starts a near-match of a long segment (several seconds without the clock)
    const text = 'a'.repeat(2_000_000);
    const pattern = `%${`${'a'.repeat(60)}_`.repeat(30)}c%`;
    const started = performance.now();
    expect(likeMatcher(pattern).test(text, budget)).toBe(false);
    expect(performance.now() - started).toBeLessThan(200);
    expect(budget.outOfTime).toBe(true);
    expect(budget.hit).toBe('time_ms_max');
  });

  it("stops a step that cannot pause at the step bound, long before the time bound; outside a step that bound does not apply", () => {
    const budget = new Budget({ ...DEFAULT_BOUNDS, timeMsMax: 600_000, stepMsMax: 5 });
    const text = 'a'.repeat(2_000_000);
    const matcher = likeMatcher(`%${`${'a'.repeat(60)}_`.repeat(30)}c%`);
    expect(budget.step(() => matcher.test(text, budget))).toBe(false);
    expect(budget.outOfTime).toBe(true);
    expect(budget.hit).toBe('step_ms_max');
    // work between steps (the scan gives the event loop its turns there) is bound by the time bound only
    const between = new Budget({ ...DEFAULT_BOUNDS, timeMsMax: 600_000, stepMsMax: 1 });
    for (const until = performance.now() + 5; performance.now() < until; ) between.tick(1);
    expect(between.inTime()).toBe(true);
    expect(between.hit).toBeUndefined();
  });

  it('keeps the literal prefix for index ranges', () => {
    expect(likePrefix('docs://a%')).toBe('docs://a');
    expect(likePrefix('a\\%b%')).toBe('a%b');
    expect(likePrefix('a_b')).toBe('a');
    expect(likePrefix('%x')).toBe('');
  });
});

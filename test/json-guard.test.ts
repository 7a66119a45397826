// The JSON guards that run before and after parsing what arrives from outside: the depth of a text (which jumps over
// strings with a native search) must count exactly the nesting a parser sees, whatever quotes and backslashes the
// strings hold.
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../scripts/prng.js';
import { jsonTextDepth } from '../shared/rem/json-guard.js';

/** Nesting depth of a parsed value (the truth the text scan must agree with). */
function parsedDepth(v: unknown): number {
  if (v === null || typeof v !== 'object') return 0;
  const children = Array.isArray(v) ? v : Object.values(v);
  return 1 + children.reduce<number>((m, c) => Math.max(m, parsedDepth(c)), 0);
}

/** A random JSON value whose strings are full of brackets, quotes and backslashes. */
function randomValue(rand: () => number, depthLeft: number): unknown {
  const r = rand();
  if (depthLeft === 0 || r < 0.3) {
    const alphabet = ['a', '"', '\\', '{', '[', ']', '}', '\\"', '\\\\', 'é', '\u0000'];
    return Array.from({ length: Math.floor(rand() * 12) }, () => alphabet[Math.floor(rand() * alphabet.length)]).join('');
  }
  if (r < 0.4) return Math.floor(rand() * 100);
  const n = 1 + Math.floor(rand() * 3);
  if (r < 0.7) return Array.from({ length: n }, () => randomValue(rand, depthLeft - 1));
  return Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}"[{\\`, randomValue(rand, depthLeft - 1)]));
}

describe('jsonTextDepth', () => {
  it('counts the nesting of objects and arrays and ignores brackets inside strings', () => {
    expect(jsonTextDepth('{"a":[1,{"b":"}}]]"}]}', 10)).toBe(3);
    expect(jsonTextDepth('"[[[["', 10)).toBe(0);
    expect(jsonTextDepth('{"a\\"[":"\\\\"}', 10)).toBe(1); // an escaped quote, then an escaped backslash before a real quote
    expect(jsonTextDepth('[["x\\\\\\"]]"]]', 10)).toBe(2); // three backslashes: the quote after them is escaped
  });

  it('agrees with the parsed depth on random texts full of quotes and backslashes', () => {
    const rand = mulberry32(7);
    for (let i = 0; i < 2000; i++) {
      const text = JSON.stringify(randomValue(rand, 6));
      expect(jsonTextDepth(text, 100), text).toBe(parsedDepth(JSON.parse(text)));
    }
  });

  it('stops as soon as the bound is passed, and does not run past an unterminated string', () => {
    expect(jsonTextDepth('['.repeat(50) + ']'.repeat(50), 5)).toBe(6);
    expect(jsonTextDepth('{"a":[' + '"abc', 10)).toBe(2);
  });
});

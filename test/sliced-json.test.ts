// Large answers are serialised an element at a time (shared/http/sliced-json.ts): the pieces joined must be exactly
// what JSON.stringify gives, for any answer shape.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { slicedStringify } from '../shared/http/sliced-json.js';

describe('slicedStringify', () => {
  it('joins to exactly JSON.stringify of the answer', async () => {
    const answer = fc.dictionary(
      fc.string({ maxLength: 8 }),
      fc.oneof(fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 30 }), fc.jsonValue({ maxDepth: 3 }), fc.constant(undefined)),
      { maxKeys: 6 },
    );
    await fc.assert(
      fc.asyncProperty(answer, async (v) => {
        expect((await slicedStringify(v as Record<string, unknown>)).join('')).toBe(JSON.stringify(v));
      }),
      { numRuns: 300 },
    );
  });

  it('keeps rows with a null prototype and keys such as __proto__', async () => {
    const row = Object.create(null) as Record<string, unknown>;
    Object.defineProperty(row, '__proto__', { value: 1, enumerable: true, writable: true, configurable: true });
    row["constructor"] = "c";
    const v = { rows: Array.from({ length: 10 }, () => row), truncated: false, skipped: undefined };
    const text = (await slicedStringify(v)).join('');
    expect(text).toBe(JSON.stringify(v));
    expect(JSON.parse(text).rows[0]).toEqual(JSON.parse('{"__proto__":1,"constructor":"c"}'));
  });
});

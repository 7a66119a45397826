import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecordCache } from '../shared/store/record-cache.js';

describe('record cache', () => {
  it('evicts the least recently used entry, not the oldest written: a read refreshes recency', () => {
    // each entry costs its key plus its JSON: 1 + 10 = 11 bytes for a and b, 2 + 10 = 12 for k0..k5 (22 + 72 = 94)
    const c = new RecordCache(100);
    c.set('a', 'x'.repeat(10));
    c.set('b', 'y'.repeat(10));
    expect(c.get('a')).toBe('x'.repeat(10)); // a is now more recent than b, though written first
    for (let i = 0; i < 6; i++) c.set(`k${i}`, 'z'.repeat(10));
    expect(c.sizeBytes).toBe(94);
    expect(c.size).toBe(8);
    c.set('k6', 'z'.repeat(10)); // 106 bytes: exactly one entry must go, and it is b (FIFO would drop a)
    expect(c.size).toBe(8);
    expect(c.sizeBytes).toBe(95);
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')).toBe('x'.repeat(10));
    expect(c.get('k0')).toBe('z'.repeat(10));
  });

  it('behaves like a reference LRU over random reads and writes', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('get', 'get', 'set', 'set', 'delete'), fc.integer({ min: 0, max: 19 }), fc.integer({ min: 1, max: 12 })), { minLength: 20, maxLength: 300, size: 'max' }),
        (ops) => {
          const bound = 100;
          const c = new RecordCache(bound);
          const model = new Map<string, string>(); // insertion order = recency order, oldest first
          const bytes = () => [...model].reduce((n, [k, v]) => n + k.length + v.length, 0);
          for (const [op, k, len] of ops) {
            const key = `k${k}`;
            if (op === 'get') {
              const v = model.get(key);
              if (v !== undefined) {
                model.delete(key);
                model.set(key, v);
              }
              expect(c.get(key)).toBe(v);
            } else if (op === 'set') {
              const json = 'v'.repeat(len);
              if (json.length > bound / 8) continue; // too big to keep (tested below); the cache ignores it
              model.delete(key);
              model.set(key, json);
              for (const [mk] of model) {
                if (bytes() <= bound) break;
                model.delete(mk);
              }
              c.set(key, json);
            } else {
              model.delete(key);
              c.delete(key);
            }
            expect(c.size).toBe(model.size);
            expect(c.sizeBytes).toBe(bytes());
            expect(c.sizeBytes).toBeLessThanOrEqual(bound);
          }
          // the same entries remain, with the same JSON
          for (const [mk, mv] of model) expect(c.get(mk)).toBe(mv);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('replaces and deletes entries, keeping the byte count exact', () => {
    const c = new RecordCache(1000);
    c.set('a', 'x'.repeat(10));
    c.set('a', 'y'.repeat(20));
    expect(c.sizeBytes).toBe(21);
    c.delete('a');
    expect(c.sizeBytes).toBe(0);
    expect(c.get('a')).toBeUndefined();
  });

  it('does not keep entries larger than an eighth of the bound, and keeps nothing when disabled', () => {
    const c = new RecordCache(80);
    c.set('big', 'x'.repeat(11));
    expect(c.size).toBe(0);
    const off = new RecordCache(0);
    off.set('a', 'x');
    expect(off.size).toBe(0);
  });
});

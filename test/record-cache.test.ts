import { describe, expect, it } from 'vitest';
import { RecordCache } from '../shared/store/record-cache.js';

describe('record cache', () => {
  it('evicts least recently used entries to stay within its byte bound', () => {
    const c = new RecordCache(100);
    c.set('a', 'x'.repeat(10));
    c.set('b', 'y'.repeat(10));
    c.get('a'); // a is now more recent than b
    for (let i = 0; i < 10; i++) c.set(`k${i}`, 'z'.repeat(10));
    expect(c.sizeBytes).toBeLessThanOrEqual(100);
    expect(c.get('b')).toBeUndefined();
    expect(c.get('k9')).toBe('z'.repeat(10));
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

import { describe, expect, it } from 'vitest';
import { ID_PATTERN, entityId, hashId, momentId, resourceId } from '../shared/rem/ids.js';

describe('deterministic ids', () => {
  it('gives the same resource id for the same uri and chunk ordinal, and different ids otherwise', () => {
    expect(resourceId('s3://b/k', 0)).toBe(resourceId('s3://b/k', 0));
    expect(resourceId('s3://b/k', 0)).not.toBe(resourceId('s3://b/k', 1));
    expect(resourceId('s3://b/k', 0)).not.toBe(resourceId('s3://b/j', 0));
    expect(resourceId('s3://b/k', 0)).toMatch(ID_PATTERN);
  });

  it('normalises entity type and key: case and whitespace do not change the id', () => {
    expect(entityId('Person', '  Marie   Curie ')).toBe(entityId('person', 'marie curie'));
    expect(entityId('person', 'marie curie')).not.toBe(entityId('org', 'marie curie'));
  });

  it('keeps the ids of existing data: the first 32 hex chars of sha256 over the unit-separated parts', () => {
    // known answers computed with createHash('sha256') when the ids were defined: records are stored and replicated
    // under these ids, so a change of how they are hashed must not change one
    expect(resourceId('s3://b/k', 0)).toBe('ed1352581363cf896bc28bce543c5ee3');
    expect(entityId('Person', 'Marie Curie')).toBe('58c0aae23fb624322e763737608f6ee7');
  });

  it('separates parts unambiguously', () => {
    expect(hashId('ab', 'c')).not.toBe(hashId('a', 'bc'));
  });

  it('derives moment ids from an explicit id, or from name and start time', () => {
    const a = momentId({ summary: 's', name: 'standup', start_time: '2024-01-01T10:00:00Z' });
    const b = momentId({ summary: 'other summary', name: 'standup', start_time: '2024-01-01T11:00:00+01:00' });
    expect(a).toBe(b); // same instant, different offset notation
    expect(momentId({ summary: 's', name: 'standup', start_time: '2024-01-02T10:00:00Z' })).not.toBe(a);
    expect(momentId({ id: 'x', summary: 's', start_time: '2024-01-01T10:00:00Z' })).toBe(
      momentId({ id: 'x', summary: 't', start_time: '2025-01-01T10:00:00Z' }),
    );
  });
});

// Tenant presence on one node without object storage: access counts over an hour and a day, the retention score,
// hot → warm demotion by score (not recency) and by idle age, pins, and what the catalog keeps across a restart.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AccessStats } from '../shared/store/access-stats.js';
import { retentionScore, SCORE_WEIGHTS_DEFAULT } from '../shared/store/retention-score.js';
import { putResources } from '../shared/store/resources.js';
import { TenantManager } from '../shared/store/tenant-manager.js';
import { loadConfig } from '../shared/config/config.js';
import { parseScoreWeights } from '../shared/config/lifecycle-config.js';
import { managerOptions } from './support/store.js';
import { tempDir } from './support/tmp.js';
import { waitFor } from './support/wait.js';

const HOUR = 3_600_000;

describe('access counts', () => {
  it('count the last hour and the last 24 hours, rolling older accesses off', () => {
    const a = new AccessStats(10);
    const t0 = 100 * HOUR;
    a.touch('x', t0);
    a.touch('x', t0 + 30 * 60_000);
    a.touch('x', t0 + 2 * HOUR);
    expect(a.get('x', t0 + 2 * HOUR)).toMatchObject({ access_count_1h: 1, access_count_24h: 3, last_access_ms: t0 + 2 * HOUR });
    // 25 h after the first access only the last one is within a day; two hours later none is within the hour
    expect(a.get('x', t0 + 25 * HOUR + 60_000)).toMatchObject({ access_count_1h: 0, access_count_24h: 1 });
    expect(a.get('x', t0 + 60 * HOUR)).toMatchObject({ access_count_1h: 0, access_count_24h: 0 });
  });

  it('forget the least recently accessed tenant beyond their bound', () => {
    const a = new AccessStats(2);
    a.touch('a', 1);
    a.touch('b', 2);
    a.touch('a', 3);
    a.touch('c', 4); // b is the least recent
    expect(a.size).toBe(2);
    expect(a.get('b', 5).access_count_1h).toBe(0);
    expect(a.get('a', 5).access_count_1h).toBe(2);
  });
});

describe('retention score', () => {
  const base = { accessCount1h: 0, accessCount24h: 0, rebuildMs: 0, sizeBytes: 0, idleMs: 0, pinned: false };
  it('rises with accesses and rebuild cost, falls with size and idle time; a pin outweighs the rest', () => {
    const s = (over: Partial<typeof base>) => retentionScore({ ...base, ...over });
    expect(s({ accessCount1h: 10 })).toBeGreaterThan(s({ accessCount1h: 1 }));
    expect(s({ accessCount24h: 10 })).toBeGreaterThan(s({}));
    expect(s({ rebuildMs: 2000 })).toBeGreaterThan(s({ rebuildMs: 10 }));
    expect(s({ sizeBytes: 2 ** 30 })).toBeLessThan(s({ sizeBytes: 2 ** 20 }));
    expect(s({ idleMs: 10 * HOUR })).toBeLessThan(s({ idleMs: HOUR }));
    expect(s({ pinned: true, idleMs: 100 * HOUR, sizeBytes: 2 ** 40 })).toBeGreaterThan(s({ accessCount1h: 1e6 }));
    // the documented formula, term by term
    const w = SCORE_WEIGHTS_DEFAULT;
    const x = { accessCount1h: 3, accessCount24h: 7, rebuildMs: 400, sizeBytes: 5 * 2 ** 20, idleMs: 2 * HOUR, pinned: false };
    const expected = w.access_1h * Math.log1p(3) + w.access_24h * Math.log1p(7) + w.rebuild * Math.log1p(4) - w.size * Math.log1p(5) - w.idle_hours * 2;
    expect(retentionScore(x)).toBeCloseTo(expected, 2);
  });

  it('takes its weights from configuration, naming what it refuses', () => {
    expect(parseScoreWeights('access_1h=5, size=0')).toMatchObject({ access_1h: 5, size: 0, access_24h: SCORE_WEIGHTS_DEFAULT.access_24h });
    expect(() => parseScoreWeights('speed=2')).toThrow(/speed=2/);
    expect(() => parseScoreWeights('size=big')).toThrow(/PERCOLATE_TENANT_SCORE_WEIGHTS/);
  });
});

describe('lifecycle configuration', () => {
  const base = { PERCOLATE_AUTH: 'off', PERCOLATE_NATS_URL: 'nats://127.0.0.1:4222', PERCOLATE_S3_BUCKET: 'snaps' };
  it('refuses a sync stream that keeps ops for less than twice the snapshot interval', () => {
    expect(() => loadConfig({ ...base, PERCOLATE_SYNC_MAX_AGE_S: '3600', PERCOLATE_SNAPSHOT_INTERVAL_S: '3600' })).toThrow(/PERCOLATE_SYNC_MAX_AGE_S \(3600\) must be at least twice PERCOLATE_SNAPSHOT_INTERVAL_S/);
    expect(loadConfig({ ...base, PERCOLATE_SYNC_MAX_AGE_S: '7200', PERCOLATE_SNAPSHOT_INTERVAL_S: '3600' }).lifecycle.snapshots?.bucket).toBe('snaps');
    // without snapshots there is nothing to check, and none are taken
    expect(loadConfig({ ...base, PERCOLATE_SNAPSHOTS: 'off', PERCOLATE_SYNC_MAX_AGE_S: '60' }).lifecycle.snapshots).toBeUndefined();
    expect(loadConfig({ PERCOLATE_AUTH: 'off' }).lifecycle.snapshots).toBeUndefined();
    expect(() => loadConfig({ PERCOLATE_SNAPSHOTS: 'sometimes' })).toThrow(/PERCOLATE_SNAPSHOTS must be auto, on or off/);
  });
});

describe('tenant manager presence', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir('percolate-presence-'));
  });
  afterEach(async () => cleanup());

  it('closes the lowest-score idle tenant over the hot count, not the least recently used one', async () => {
    const tm = new TenantManager(managerOptions(dir, { openMax: 2 }));
    try {
      for (let i = 0; i < 20; i++) await tm.use('busy', true, async () => undefined); // least recent, but busy
      await tm.use('quiet', true, async () => undefined);
      await tm.use('new', true, async () => undefined);
      await waitFor('one tenant closed', async () => tm.openCount === 2, 10_000, 5);
      expect(tm.presence('busy')?.state).toBe('hot');
      expect(tm.presence('quiet')?.state).toBe('warm');
      expect(tm.presence('busy')!.score).toBeGreaterThan(tm.presence('quiet')!.score);
    } finally {
      await tm.close();
    }
  });

  it('closes hot tenants idle longer than the warm age, and shows presence fields', async () => {
    const tm = new TenantManager(managerOptions(dir, { lifecycle: { idleWarmMs: 60_000 } }));
    try {
      await tm.use('t1', true, (s) => putResources(s, [{ uri: 'doc://1', content: 'one' }]));
      await tm.use('t2', true, async () => undefined);
      const p = tm.presence('t1')!;
      expect(p).toMatchObject({ state: 'hot', pinned: false, access_count_1h: 1, access_count_24h: 1, snapshot: null });
      expect(Date.parse(p.last_access!)).toBeGreaterThan(Date.now() - 60_000);
      await tm.sweep(Date.now() + 30_000);
      expect(tm.openCount).toBe(2);
      await tm.sweep(Date.now() + 61_000);
      expect(tm.openCount).toBe(0);
      expect(tm.presence('t1')).toMatchObject({ state: 'warm' });
      expect(tm.presence('t1')!.size_bytes).toBeGreaterThan(0);
      // a request brings it back
      expect(await tm.use('t1', false, async (s) => s.count('resources'))).toBe(1);
      expect(tm.presence('t1')?.state).toBe('hot');
      expect(tm.list({ limit: 10 }).tenants.map((t) => [t.tenant, t.state])).toEqual([
        ['t1', 'hot'],
        ['t2', 'warm'],
      ]);
      expect(tm.list({ limit: 1, state: 'warm' })).toMatchObject({ tenants: [{ tenant: 't2' }], next_cursor: null });
      expect(tm.list({ limit: 1 })).toMatchObject({ tenants: [{ tenant: 't1' }], next_cursor: 't1' });
      expect(tm.list({ limit: 1, cursor: 't1' }).tenants.map((t) => t.tenant)).toEqual(['t2']);
    } finally {
      await tm.close();
    }
  });

  it('keeps pins, sizes and last accesses across a restart without opening any tenant', async () => {
    const first = new TenantManager(managerOptions(dir));
    await first.use('keep', true, (s) => putResources(s, [{ uri: 'doc://k', content: 'kept' }]));
    await first.use('other', true, async () => undefined);
    await first.setPinned('keep', true);
    await expect(first.offload('other')).rejects.toMatchObject({ code: 'invalid_request' }); // no object storage
    await first.close();

    const second = new TenantManager(managerOptions(dir));
    try {
      expect(second.openCount).toBe(0);
      await second.sweep(); // loads the catalog; opens nothing
      expect(second.openCount).toBe(0);
      expect(second.presence('keep')).toMatchObject({ state: 'warm', pinned: true });
      expect(second.presence('keep')!.last_access).not.toBeNull();
      expect(second.presence('keep')!.size_bytes).toBeGreaterThan(0);
      expect(second.stateCounts()).toEqual({ hot: 0, warm: 2, cold: 0 });
      await second.setPinned('keep', false);
      expect(second.presence('keep')?.pinned).toBe(false);
      await expect(second.setPinned('ghost', true)).rejects.toMatchObject({ code: 'tenant_not_found' });
    } finally {
      await second.close();
    }
  });
});

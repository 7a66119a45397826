// Many tenants on one node: 2,000 tenants with at most 64 hot. Open file descriptors and memory stay bounded by the
// hot set, not by the tenant count, and every tenant stays readable (warm tenants reopen on demand).
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { putResources } from '../shared/store/resources.js';
import { TenantManager } from '../shared/store/tenant-manager.js';
import { managerOptions } from './support/store.js';
import { tempDir } from './support/tmp.js';

const TENANTS = 2000;
const HOT_MAX = 64;

const openFds = () => fs.readdirSync('/proc/self/fd').length;

describe('2,000 tenants with 64 hot', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir('percolate-scale-'));
  });
  afterEach(async () => cleanup());

  it('keeps file descriptors and memory bounded by the hot set and every tenant readable', async () => {
    const tm = new TenantManager(managerOptions(dir, { openMax: HOT_MAX, recordCacheBytes: 64 * 1024 }));
    try {
      const fdsBefore = openFds();
      let fdsMax = 0;
      let openMax = 0;
      for (let i = 0; i < TENANTS; i++) {
        await tm.use(`t${i}`, true, (s) => putResources(s, [{ uri: `doc://${i}`, content: `tenant ${i} keeps its own memory` }]));
        openMax = Math.max(openMax, tm.openCount);
        if (i % 50 === 0) fdsMax = Math.max(fdsMax, openFds());
      }
      const rssAfterWrites = process.memoryUsage().rss;
      // every tenant answers with its own record, whether hot or warm
      for (let i = 0; i < TENANTS; i++) {
        const count = await tm.use(`t${i}`, false, async (s) => s.count('resources'));
        expect(count).toBe(1);
        openMax = Math.max(openMax, tm.openCount);
        if (i % 50 === 0) fdsMax = Math.max(fdsMax, openFds());
      }
      // leases end before eviction runs, so the hot set may pass its bound by the few closes still in flight
      expect(openMax).toBeLessThanOrEqual(HOT_MAX + 2);
      expect(tm.stateCounts()).toMatchObject({ warm: TENANTS - tm.openCount });
      // a LevelDB holds a handful of files open (log, manifest, lock, tables): per hot tenant, never per tenant
      const perHot = (fdsMax - fdsBefore) / HOT_MAX;
      expect(perHot, `${fdsMax - fdsBefore} descriptors for ${HOT_MAX} hot tenants`).toBeLessThan(12);
      expect(fdsMax - fdsBefore).toBeLessThan(TENANTS / 2);
      // memory: well under what 2,000 open stores would hold (each open one holds about 0.5–3 MB)
      expect(process.memoryUsage().rss - rssAfterWrites).toBeLessThan(512 * 2 ** 20);
      expect(process.memoryUsage().rss).toBeLessThan(2 * 2 ** 30);
    } finally {
      await tm.close();
    }
  }, 240_000);
});

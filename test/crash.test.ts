// A database node killed with SIGKILL during a write load loses no acknowledged write, and its indexes agree with
// its records after reopening (vector log replay and keyword postings are part of the same LevelDB batches).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { search } from '../shared/search/search.js';
import type { Resource } from '../shared/rem/types.js';
import { spawnService, type ServiceProcess } from './support/process.js';
import { openStore } from './support/store.js';
import { tempDir } from './support/tmp.js';
import { waitFor } from './support/wait.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
let proc: ServiceProcess | undefined;

beforeAll(async () => {
  tmp = await tempDir();
});
afterAll(async () => {
  await proc?.kill('SIGKILL');
  await tmp.cleanup();
});

const TENANT = 'crashy';

async function writeLoad(url: string, acked: Map<string, string>, stop: { now: boolean }, worker: number): Promise<void> {
  for (let batch = 0; !stop.now; batch++) {
    const resources = Array.from({ length: 10 }, (_, i) => ({
      uri: `load://w${worker}/b${batch}`,
      chunk_ordinal: i,
      content: `worker ${worker} batch ${batch} chunk ${i} unique marker w${worker}b${batch}c${i}`,
    }));
    try {
      const res = await fetch(`${url}/api/v1/resources`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-tenant-id': TENANT },
        body: JSON.stringify({ resources }),
      });
      if (res.status !== 201) continue;
      const { ids } = (await res.json()) as { ids: string[] };
      ids.forEach((id, i) => acked.set(id, resources[i]!.content));
    } catch {
      return; // the node died under us: this batch was never acknowledged
    }
  }
}

describe('crash safety', () => {
  it('keeps every acknowledged write and consistent indexes after SIGKILL mid-load', async () => {
    // checkpoint often, so the kill lands between checkpoints and exercises log replay
    const env = { PERCOLATE_DATA_DIR: tmp.dir, PORT: '0', PERCOLATE_VECTOR_CHECKPOINT_OPS: '300' };
    proc = await spawnService('services/api/main.ts', env);
    const acked = new Map<string, string>();
    const stop = { now: false };
    const workers = [0, 1, 2, 3].map((w) => writeLoad(proc!.url, acked, stop, w));
    await waitFor('1500 acknowledged writes before the kill', async () => acked.size >= 1500, 60_000, 20);
    proc.child.kill('SIGKILL');
    const { signal } = await proc.exited;
    stop.now = true;
    await Promise.all(workers);
    expect(signal).toBe('SIGKILL');

    // reopen in-process: records, vector index and keyword index must all hold every acknowledged write
    const store = await openStore(tmp.dir, TENANT);
    try {
      const ids = [...acked.keys()];
      const records = await store.getMany<Resource>('resources', ids);
      const missing = ids.filter((_, i) => !records[i]);
      expect(missing).toEqual([]);
      const stored = await store.recordTexts('resources').all();
      // the node logged its records for keyword postings on demand: the first keyword search indexes them
      await store.serveKeywords('resources');
      expect(store.count('resources')).toBe(stored.length);
      expect(store.vectorIndex('resources').size).toBe(stored.length);
      expect(store.keywordIndex('resources').docCount).toBe(stored.length);
      for (const id of ids.slice(0, 40)) {
        const marker = acked.get(id)!.split(' ').at(-1)!;
        const kw = await search(store, { query: marker, kinds: ['resources'], mode: 'keyword', limit: 1 });
        expect(kw[0]?.id).toBe(id);
        const vec = await search(store, { query: acked.get(id)!, kinds: ['resources'], mode: 'vector', limit: 1 });
        expect(vec[0]?.id).toBe(id);
      }
    } finally {
      await store.close();
    }

    // and the node itself serves them after a restart
    proc = await spawnService('services/api/main.ts', env);
    const someId = [...acked.keys()].at(-1)!;
    const res = await fetch(`${proc.url}/api/v1/resources/${someId}`, { headers: { 'x-tenant-id': TENANT } });
    expect(res.status).toBe(200);
    await proc.kill('SIGTERM');
  });
});

// Hardening: touching many tenants in turn must not grow the node's memory without bound. Each open tenant holds
// three hnswlib graphs whose native memory (about 2.6 MB each even when nearly empty) used to be freed only when V8
// happened to collect their wrappers; with 8 tenants open at a time the node grew by about 8 MB per tenant touched.
// Here a database node in its own process touches hundreds of tenants with a small open cap, so they are closed and
// reopened, and its resident memory must stay near what the open tenants need.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNodeProcess, type NodeProcess } from './support/hostile.js';

const OPEN_MAX = 8;
const TENANTS = 480;
/** Growth allowed over the RSS measured once the open cap is full (the unfixed node passes it within ~40 tenants). */
const GROWTH_BOUND_MB = 256;
/** Growth allowed over a second pass of reopening the same 17 tenants (a leak of 8 MB per reopen would add 136 MB). */
const REOPEN_GROWTH_BOUND_MB = 64;
/** hnswlib's fixed native cost of one graph (65,536 mutexes of 40 bytes). */
const GRAPH_FIXED_BYTES = 65_536 * 40;

let node: NodeProcess;

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error('no VmRSS');
  return Number(m[1]) / 1024;
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`metric ${name} is not exported`);
  return Number(line.slice(name.length + 1));
}

beforeAll(async () => {
  // LOG_LEVEL info: the test helper waits for the node's "listening on" line, logged at info
  node = await startNodeProcess({ PERCOLATE_TENANTS_OPEN_MAX: String(OPEN_MAX), LOG_LEVEL: 'info' });
});
afterAll(async () => {
  await node?.close();
});

interface Written {
  tenant: string;
  resource: string;
  entity: string;
  moment: string;
}

async function touch(i: number): Promise<Written> {
  const tenant = `mem-${i}`;
  const r = await node.call('POST', '/api/v1/resources', { tenant, body: { uri: `doc://${i}`, content: `field notes ${i} about the northern lakes` } });
  const e = await node.call('POST', '/api/v1/entities', { tenant, body: { type: 'person', key: `walker ${i}`, properties: { n: i } } });
  const m = await node.call('POST', '/api/v1/moments', { tenant, body: { summary: `walked around lake ${i}`, start_time: '2024-05-01T09:00:00Z' } });
  for (const w of [r, e, m]) if (w.status !== 201) throw new Error(`${tenant}: write answered ${w.status} ${JSON.stringify(w.body)}`);
  const s = await node.call('POST', '/api/v1/search', { tenant, body: { query: `field notes ${i}`, limit: 3 } });
  if (s.status !== 200) throw new Error(`${tenant}: search answered ${s.status} ${JSON.stringify(s.body)}`);
  return { tenant, resource: r.body.ids[0], entity: e.body.ids[0], moment: m.body.ids[0] };
}

describe('native memory across many tenants', () => {
  it('keeps resident memory bounded while tenants are opened, closed and reopened, and every tenant stays readable', async () => {
    const pid = node.proc.child.pid!;
    const written: Written[] = [];
    for (let i = 0; i < OPEN_MAX; i++) written.push(await touch(i));
    const baseline = rssMb(pid);
    let peak = baseline;
    for (let i = OPEN_MAX; i < TENANTS; i++) {
      written.push(await touch(i));
      peak = Math.max(peak, rssMb(pid));
      // fail early (and cheaply) once the bound is gone for good
      if (peak > baseline + 4 * GROWTH_BOUND_MB) break;
    }
    const end = rssMb(pid);
    console.log(`RSS: ${baseline.toFixed(0)} MB with ${OPEN_MAX} tenants open, peak ${peak.toFixed(0)} MB, ${end.toFixed(0)} MB after ${written.length} tenants`);
    expect(peak).toBeLessThan(baseline + GROWTH_BOUND_MB);
    expect(written).toHaveLength(TENANTS);

    // every sampled tenant reopens (closing others) with its records and all three graphs intact
    const reopenSampled = async () => {
      for (let i = 0; i < TENANTS; i += 29) {
        const w = written[i]!;
        const t = { tenant: w.tenant };
        expect((await node.call('GET', `/api/v1/resources/${w.resource}`, t)).body).toMatchObject({ uri: `doc://${i}` });
        expect((await node.call('GET', `/api/v1/entities/${w.entity}`, t)).body).toMatchObject({ key: `walker ${i}` });
        expect((await node.call('GET', `/api/v1/moments/${w.moment}`, t)).body).toMatchObject({ summary: `walked around lake ${i}` });
        for (const [kind, id, query] of [
          ['resources', w.resource, `field notes ${i} about the northern lakes`],
          ['entities', w.entity, `walker ${i}`],
          ['moments', w.moment, `walked around lake ${i}`],
        ] as const) {
          const s = await node.call('POST', '/api/v1/search', { ...t, body: { query, mode: 'vector', kinds: [kind], limit: 1 } });
          expect(s.status).toBe(200);
          expect(s.body.results.map((h: { id: string }) => h.id)).toEqual([id]);
        }
      }
    };
    // the first pass of reopens (graphs loaded from their checkpoints) raises RSS once, by about 110 MB on Node 24
    // and less on Node 20, and further passes stay there (measured over four passes): a second pass must not add
    // what a leak per reopen would (the unfixed node grew about 8 MB per tenant, 17 tenants a pass)
    await reopenSampled();
    const afterFirstPass = rssMb(pid);
    await reopenSampled();
    const afterSecondPass = rssMb(pid);
    console.log(`RSS after reopening every 29th tenant: ${afterFirstPass.toFixed(0)} MB, after a second pass ${afterSecondPass.toFixed(0)} MB`);
    expect(afterSecondPass).toBeLessThan(afterFirstPass + REOPEN_GROWTH_BOUND_MB);
  }, 180_000);

  it('reports a sane memory estimate per tenant and for the node', async () => {
    const info = await node.call('GET', '/api/v1/tenant', { tenant: 'mem-0' });
    expect(info.status).toBe(200);
    const one = info.body.memory_estimate_bytes as number;
    // three graphs hold a vector each: at least their fixed cost, and far below what 3 records could justify more
    expect(one).toBeGreaterThan(3 * GRAPH_FIXED_BYTES);
    expect(one).toBeLessThan(32 * 1024 * 1024);
    const total = await metric('percolate_tenants_memory_estimate_bytes');
    const open = await metric('percolate_open_tenant_stores');
    const rss = await metric('percolate_process_resident_memory_bytes');
    expect(open).toBeGreaterThan(0);
    expect(open).toBeLessThanOrEqual(OPEN_MAX);
    expect(total).toBeGreaterThanOrEqual(one);
    expect(total).toBeGreaterThan(open * 3 * GRAPH_FIXED_BYTES);
    expect(total).toBeLessThan(open * 32 * 1024 * 1024);
    expect(total).toBeLessThan(rss);
  });
});

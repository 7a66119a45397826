// Read routes answer within PERCOLATE_RESPONSE_BYTES_MAX: a listing, a search or a lookup over large records stops
// before the record that would exceed the budget, says so (`truncated`, `bound: "response_bytes_max"`), and a
// listing's cursor continues where the page stopped, so paging still reaches every record exactly once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeWhile, seedQuietTenant, startNodeProcess, type NodeProcess } from './support/hostile.js';

const BUDGET = 256 * 1024;
/** What surrounds the records in an answer (keys, scores, cursor, took_ms). */
const ENVELOPE = 8 * 1024;
const QUIET = 'quiet';
const T = 'big';
const RECORDS = 24;
const SIZE = 40 * 1024; // each record's text: the budget holds about six

let node: NodeProcess;

beforeAll(async () => {
  node = await startNodeProcess({ PERCOLATE_RESPONSE_BYTES_MAX: String(BUDGET) });
  await seedQuietTenant(node.url, QUIET);
  const text = (i: number) => `record ${i} about budgets ` + 'lorem ipsum dolor '.repeat(SIZE / 18);
  const put = async (path: string, body: unknown) => {
    const res = await node.call('POST', path, { tenant: T, body });
    if (res.status !== 201) throw new Error(`${path}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
  };
  await put('/api/v1/resources', { resources: Array.from({ length: RECORDS }, (_, i) => ({ uri: `doc://${String(i).padStart(2, '0')}`, content: text(i) })) });
  await put('/api/v1/moments', { moments: Array.from({ length: RECORDS }, (_, i) => ({ summary: text(i), start_time: `2024-01-${String(i + 1).padStart(2, '0')}T00:00:00Z` })) });
  // one natural key under many types, each entity large: a lookup by key alone matches them all
  await put('/api/v1/entities', { entities: Array.from({ length: RECORDS }, (_, i) => ({ type: `kind${i}`, key: 'shared key', properties: { text: text(i) } })) });
});

afterAll(async () => {
  await node?.close();
});

async function get(path: string, body?: unknown): Promise<{ status: number; bytes: number; body: any }> {
  const run = async () => {
    const res = await fetch(node.url + path, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { 'x-tenant-id': T, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, bytes: Buffer.byteLength(text), body: JSON.parse(text) };
  };
  const { result, responsiveness } = await probeWhile(node.url, run, { otherTenant: QUIET });
  expect(responsiveness.healthMaxMs).toBeLessThan(250);
  expect(responsiveness.searchStatuses.every((s) => s === 200)).toBe(true);
  return result;
}

function expectBounded(a: { status: number; bytes: number; body: any }): void {
  expect(a.status, JSON.stringify(a.body).slice(0, 300)).toBe(200);
  expect(a.body.truncated).toBe(true);
  expect(a.body.bound).toBe('response_bytes_max');
  expect(a.bytes).toBeLessThanOrEqual(BUDGET + ENVELOPE);
  expect(a.body.results.length).toBeGreaterThan(0);
  expect(a.body.results.length).toBeLessThan(RECORDS);
}

describe('answers within the response budget', () => {
  it('pages a resource listing by size, and the cursor reaches every record exactly once', async () => {
    const first = await get('/api/v1/resources?limit=1000');
    expectBounded(first);
    const seen: string[] = first.body.results.map((r: { uri: string }) => r.uri);
    let cursor: string | null = first.body.next_cursor;
    while (cursor) {
      const page = await get(`/api/v1/resources?limit=1000&cursor=${encodeURIComponent(cursor)}`);
      expect(page.bytes).toBeLessThanOrEqual(BUDGET + ENVELOPE);
      seen.push(...page.body.results.map((r: { uri: string }) => r.uri));
      cursor = page.body.next_cursor;
    }
    expect(seen).toEqual(Array.from({ length: RECORDS }, (_, i) => `doc://${String(i).padStart(2, '0')}`));
  });

  it('bounds keyword, vector and hybrid searches, on both search routes', async () => {
    for (const mode of ['keyword', 'vector', 'hybrid']) {
      expectBounded(await get(`/api/v1/resources?query=budgets%20lorem&mode=${mode}&limit=100`));
      expectBounded(await get('/api/v1/search', { query: 'budgets lorem', mode, limit: 100, kinds: ['resources', 'moments'] }));
    }
  });

  it('bounds the moment listing and names the bound', async () => {
    expectBounded(await get('/api/v1/moments?limit=1000'));
  });

  it('bounds entity lookups by key and fuzzy matches', async () => {
    expectBounded(await get('/api/v1/entities?key=shared%20key&limit=100'));
    expectBounded(await get('/api/v1/entities?fuzzy=shared%20key&limit=100'));
  });
});

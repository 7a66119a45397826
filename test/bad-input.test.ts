// Bad input gets a clear 4xx with an error code, never a 5xx, and never a file outside the data directory.
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../bench/dataset.js';
import { startNode, type TestNode } from './support/api.js';
import { listFiles, tempDir } from './support/tmp.js';

let root: { dir: string; cleanup: () => Promise<void> };
let dataDir: string;
let node: TestNode;
let outsideBefore: string[];

beforeAll(async () => {
  root = await tempDir();
  dataDir = path.join(root.dir, 'data');
  await fs.mkdir(path.join(root.dir, 'sibling'));
  await fs.writeFile(path.join(root.dir, 'sibling', 'keep.txt'), 'untouched');
  outsideBefore = (await listFiles(root.dir)).filter((f) => !f.startsWith('data/'));
  node = await startNode({ PERCOLATE_BODY_BYTES_MAX: String(64 * 1024), PERCOLATE_CONTENT_CHARS_MAX: '10000' }, { dataDir });
});

afterAll(async () => {
  await node.close();
  await root.cleanup();
});

function expectClientError(res: { status: number; body: any }, code?: string) {
  expect(res.status, JSON.stringify(res.body)).toBeGreaterThanOrEqual(400);
  expect(res.status).toBeLessThan(500);
  expect(typeof res.body.error.code).toBe('string');
  expect(typeof res.body.error.message).toBe('string');
  if (code) expect(res.body.error.code).toBe(code);
}

describe('tenant ids', () => {
  const bad = ['../x', '..', 'UPPER', 'a'.repeat(200), '', 'sp ace', 'a/b', 'a\\b', '.hidden', '-dash-first', 'x%2F..%2Fy'];
  it.each(bad)('rejects X-Tenant-ID %j with 400 before touching the filesystem', async (tenant) => {
    const res = await node.call('POST', '/api/v1/resources', { tenant, body: { uri: 'u', content: 'c' } });
    expectClientError(res, tenant === '' ? 'missing_tenant' : 'invalid_tenant');
  });

  it('requires the header on every /api/v1 route', async () => {
    for (const [method, url] of [['GET', '/api/v1/resources'], ['POST', '/api/v1/search'], ['GET', '/api/v1/tenant'], ['GET', '/api/v1/moments']]) {
      expectClientError(await node.call(method!, url!, { tenant: null, body: method === 'POST' ? { query: 'q' } : undefined }), 'missing_tenant');
    }
  });
});

describe('bodies', () => {
  it('rejects malformed JSON with invalid_json', async () => {
    for (const raw of ['{"uri":', 'not json', '{"uri":"a","content":"b",}', '\u0000']) {
      expectClientError(await node.call('POST', '/api/v1/resources', { rawBody: raw }), 'invalid_json');
    }
  });

  it('rejects wrong types without coercing them', async () => {
    const cases = [
      { uri: 'u', content: 5 },
      { uri: 5, content: 'c' },
      { uri: 'u', content: 'c', chunk_ordinal: '3' },
      { uri: 'u', content: 'c', chunk_ordinal: -1 },
      { uri: 'u', content: 'c', metadata: 'm' },
      { uri: 'u', content: 'c', embedding: ['x'] },
      { resources: [] },
      { resources: 'nope' },
      { uri: 'u' },
      { uri: 'u', content: 'c', unexpected: true },
      [],
      'string',
      null,
    ];
    for (const body of cases) expectClientError(await node.call('POST', '/api/v1/resources', { body }), 'invalid_request');
  });

  it('names the failing field', async () => {
    const res = await node.call('POST', '/api/v1/resources', { body: { resources: [{ uri: 'u', content: 'c' }, { uri: 'u', content: 7 }] } });
    expect(res.body.error.message).toContain('resources.1.content');
  });

  it('rejects huge strings and oversized bodies with 4xx', async () => {
    expectClientError(await node.call('POST', '/api/v1/resources', { body: { uri: 'u', content: 'x'.repeat(20_000) } }), 'invalid_request');
    expectClientError(await node.call('POST', '/api/v1/resources', { body: { uri: 'u'.repeat(5000), content: 'c' } }), 'invalid_request');
    const big = await node.call('POST', '/api/v1/resources', { body: { resources: Array.from({ length: 20 }, (_, i) => ({ uri: `u${i}`, content: 'y'.repeat(9000) })) } });
    expectClientError(big, 'payload_too_large');
    expect(big.status).toBe(413);
    expectClientError(await node.call('GET', `/api/v1/resources?query=${'q'.repeat(5000)}`), 'invalid_request');
  });

  it('rejects batches above the configured maximum', async () => {
    const res = await node.call('POST', '/api/v1/resources', { body: { resources: Array.from({ length: 1001 }, (_, i) => ({ uri: `${i}`, content: '' })) } });
    expectClientError(res, 'invalid_request');
  });

  it('rejects bad entity references, ids and query parameters', async () => {
    expectClientError(await node.call('POST', '/api/v1/entities', { body: { type: 'p', key: 'k', edges: [{ rel: 'r', to: 'not-an-id' }] } }));
    expectClientError(await node.call('POST', '/api/v1/entities', { body: { type: 'p', key: '   ' } }), 'invalid_request');
    expectClientError(await node.call('GET', '/api/v1/entities/zz/neighbors'), 'invalid_request');
    expectClientError(await node.call('GET', `/api/v1/entities/${'a'.repeat(32)}/neighbors?depth=9`), 'invalid_request');
    expectClientError(await node.call('GET', '/api/v1/resources?limit=0'), 'invalid_request');
    expectClientError(await node.call('GET', '/api/v1/resources?mode=psychic&query=x'), 'invalid_request');
    expectClientError(await node.call('GET', '/api/v1/moments?from=yesterday'), 'invalid_request');
    expectClientError(await node.call('GET', '/api/v1/resources?cursor=bm9wZQ'));
    expectClientError(await node.call('POST', '/api/v1/search', { body: { query: 'x', kinds: ['people'] } }), 'invalid_request');
    expectClientError(await node.call('POST', '/api/v1/search', { body: { mode: 'keyword' } }), 'invalid_request');
  });

  it('answers random garbage on every write route with a 4xx, never a 5xx', async () => {
    const rand = mulberry32(7);
    const atoms = [null, true, -1, 1e308, 'x', '', '\u0000', '../../etc', [], {}, [1, 'a'], { a: { b: {} } }];
    const pick = () => atoms[Math.floor(rand() * atoms.length)];
    const fields = ['uri', 'content', 'type', 'key', 'summary', 'start_time', 'edges', 'metadata', 'properties', 'chunk_ordinal', 'resources', 'entities', 'moments', 'query', 'embedding'];
    for (let i = 0; i < 150; i++) {
      const body: Record<string, unknown> = {};
      for (const f of fields) if (rand() < 0.4) body[f] = pick();
      for (const url of ['/api/v1/resources', '/api/v1/entities', '/api/v1/moments', '/api/v1/search']) {
        const res = await node.call('POST', url, { body });
        expect(res.status, `${url} ${JSON.stringify(body)} -> ${JSON.stringify(res.body)}`).toBeLessThan(500);
      }
    }
  });
});

describe('filesystem containment', () => {
  it('created no file outside the data directory and no tenant for rejected requests', async () => {
    const outsideAfter = (await listFiles(root.dir)).filter((f) => !f.startsWith('data/'));
    expect(outsideAfter).toEqual(outsideBefore);
    const tenants = await fs.readdir(path.join(dataDir, 'tenants')).catch(() => []);
    for (const t of tenants) expect(t).toMatch(/^[a-z0-9][a-z0-9_-]{0,62}$/);
    expect(tenants).not.toContain('..');
  });
});

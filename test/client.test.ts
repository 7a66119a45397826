// The typed client (`percolate-ts/client`, resolved through the package's own exports) against a real node with
// auth required: every route of the node, errors as PercolateError with the envelope's code, retries of a refused
// request after its Retry-After (and none of a request the node rejected), the tenant and the token as options. Its
// types are the route schemas' (services/api/schemas.ts, responses.ts): this file type-checks against them.
import fs from 'node:fs/promises';
import path from 'node:path';
import { PercolateClient, PercolateError } from 'percolate-ts/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintTestToken } from './support/auth.js';
import { startNode, type TestNode } from './support/api.js';

let node: TestNode;
let client: PercolateClient;
let admin: PercolateClient;
let auth: Awaited<ReturnType<typeof mintTestToken>>;

beforeAll(async () => {
  auth = await mintTestToken();
  node = await startNode({ PERCOLATE_AUTH: 'required', ...auth.env });
  client = new PercolateClient({ url: node.url, tenant: 'typed', token: await auth.token({ tenant: 'typed', scope: 'rw' }) });
  admin = new PercolateClient({ url: node.url, tenant: 'typed', token: await auth.token({ tenant: '*', scope: 'admin' }) });
});
afterAll(async () => {
  await node?.close();
  await auth?.cleanup();
});

describe('PercolateClient', () => {
  it('writes, reads, searches, queries and deletes records of every kind', async () => {
    const written = await client.resources.put([{ uri: 'doc://curie', content: 'Marie Curie discovered radium in 1898.' }]);
    expect(written.count).toBe(1);
    const id = written.ids[0]!;
    expect((await client.resources.get(id)).uri).toBe('doc://curie');
    expect((await client.resources.search('radium')).results[0]!.uri).toBe('doc://curie');
    expect((await client.resources.list()).results.map((r) => r.uri)).toEqual(['doc://curie']);
    const [marie] = (await client.entities.put({ type: 'person', key: 'marie', name: 'Marie Curie', edges: [{ rel: 'discovered', to: { type: 'element', key: 'radium' } }] })).ids;
    expect((await client.entities.lookup('marie')).results[0]!.name).toBe('Marie Curie');
    expect((await client.entities.neighbors(marie!)).edges.length).toBe(1);
    await client.moments.put({ summary: 'a lecture on radium', start_time: '2024-03-05T10:00:00Z', tags: ['talk'] });
    expect((await client.moments.list({ tag: 'talk' })).results).toHaveLength(1);
    const hits = await client.search('radium', { kinds: ['resources', 'moments'] });
    expect(hits.results.map((h) => h.kind).sort()).toEqual(['moments', 'resources']);
    // a hit carries its whole record
    expect(hits.results.find((h) => h.kind === 'resources')!.record).toMatchObject({ id, uri: 'doc://curie', chunk_ordinal: 0 });
    expect((await client.entities.fuzzy('mari')).results[0]).toMatchObject({ key: 'marie', match: 'prefix' });
    const q = await client.query('SELECT uri FROM resources WHERE uri = $1', ['doc://curie']);
    expect(q.rows).toEqual([{ uri: 'doc://curie' }]);
    await client.resources.delete(id);
    const gone = await client.resources.get(id).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(PercolateError);
    expect(gone).toMatchObject({ status: 404, code: 'not_found' });
  });

  it('chats whole and streamed, with numbered citations', async () => {
    await client.resources.put({ uri: 'doc://hopper', content: 'Grace Hopper developed the first compiler.' });
    const a = await client.chat([{ role: 'user', content: 'Who developed the first compiler?' }]);
    expect(a.answer).toContain('[1]');
    expect(a.citations[0]).toMatchObject({ n: 1, uri: 'doc://hopper' });
    let text = '';
    let done: unknown;
    for await (const ev of client.chatStream([{ role: 'user', content: 'Who developed the first compiler?' }])) {
      if (ev.event === 'delta') text += ev.content;
      if (ev.event === 'done') done = ev.answer;
    }
    expect(text).toBe(a.answer);
    expect(done).toMatchObject({ answer: a.answer, citations: [{ n: 1 }] });
  });

  it('runs tenant operations and admin listings with an admin token; a rw token is refused with scope_forbidden', async () => {
    expect((await client.tenant.info()).counts?.resources).toBeGreaterThan(0);
    expect((await client.tenant.digest()).digest).toMatch(/^[0-9a-f]+$/);
    const refused = await client.tenant.pin().catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: 403, code: 'scope_forbidden' });
    const started = await admin.tenant.pin();
    const op = await admin.tenant.waitOperation(started.operation_id);
    expect(op.status).toBe('completed');
    expect((await admin.admin.tenants()).tenants.map((t) => t.tenant)).toContain('typed');
    expect(await admin.health.live()).toEqual({ status: 'ok' });
    await admin.schemas.put('person', { schema: { type: 'object', properties: { born: { type: 'integer' } } } });
    expect((await client.schemas.list()).schemas.map((s) => s.type)).toContain('person');
    expect((await admin.schemas.get('person')).key_field).toBeNull();
    await admin.schemas.delete('person');
    expect((await client.schemas.list()).schemas).toEqual([]);
  });

  it('names the field of a refused write in the error details, and needs a tenant for tenant routes', async () => {
    const err = await client.resources.put({ uri: 'doc://x', content: 'x', colour: 'red' } as never).catch((e: unknown) => e as PercolateError);
    expect(err).toBeInstanceOf(PercolateError);
    expect(err).toMatchObject({ status: 400, code: 'invalid_request', details: [{ path: '/resources/0/colour', keyword: 'additionalProperties' }] });
    const noTenant = new PercolateClient({ url: node.url });
    await expect(noTenant.tenant.info()).rejects.toThrow(/needs a tenant/);
    const noToken = new PercolateClient({ url: node.url, tenant: 'typed' });
    await expect(noToken.tenant.info()).rejects.toMatchObject({ status: 401, code: 'token_missing' });
  });

  it('answers the OpenAI-compatible routes, the metrics and the drain', async () => {
    expect((await client.openai.models()).data[0]).toMatchObject({ object: 'model', owned_by: 'percolate' });
    const completion = await client.openai.chatCompletion({ model: 'percolate', messages: [{ role: 'user', content: 'Who developed the first compiler?' }] });
    expect(completion).toMatchObject({ object: 'chat.completion', choices: [{ message: { role: 'assistant' }, finish_reason: 'stop' }] });
    expect(completion.citations[0]).toMatchObject({ n: 1, uri: 'doc://hopper' });
    expect(await client.metrics()).toContain('percolate_http_request_duration_seconds');
    expect((await client.health.ready()).status).toBe('ready');
    // last: the drain leaves the node not ready
    const refused = await client.health.drain('f'.repeat(64)).catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: 403, code: 'drain_forbidden' });
    const token = (await fs.readFile(path.join(node.dataDir, 'drain.token'), 'utf8')).trim();
    expect(await client.health.drain(token)).toMatchObject({ timed_out: false, snapshot_failures: 0 });
    await expect(new PercolateClient({ url: node.url, retries: 0 }).health.ready()).rejects.toMatchObject({ status: 503, code: 'not_ready' });
  });
});

/** A fetch that records the status of every answer. */
function statusRecorder(): { seen: number[]; counting: typeof fetch } {
  const seen: number[] = [];
  const counting: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    seen.push(res.status);
    return res;
  };
  return { seen, counting };
}

describe('retries', () => {
  let limited: TestNode;
  beforeAll(async () => {
    // two reads per tenant per 2 s window: the third is refused with 429 and a Retry-After of the window's rest
    limited = await startNode({ PERCOLATE_RATE_LIMIT_READS: '2', PERCOLATE_RATE_LIMIT_WINDOW_MS: '2000' });
  });
  afterAll(async () => {
    await limited?.close();
  });

  it('retries a 429 after its Retry-After and succeeds; with no retries left the PercolateError carries it', async () => {
    const { seen, counting } = statusRecorder();
    const c = new PercolateClient({ url: limited.url, tenant: 'rl', retries: 3, fetch: counting });
    await c.resources.put({ uri: 'doc://a', content: 'a' });
    for (let i = 0; i < 3; i++) await c.resources.list();
    // the third read was refused once (or more), then answered after the wait the node asked for
    expect(seen.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(seen.at(-1)).toBe(200);
    const once = new PercolateClient({ url: limited.url, tenant: 'rl', retries: 0 });
    await once.resources.list().catch(() => undefined);
    await once.resources.list().catch(() => undefined);
    const err = await once.resources.list().catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 429, code: 'rate_limited' });
    expect((err as PercolateError).retryAfterS).toBeGreaterThan(0);
  });

  it('does not retry a request the node rejected (400)', async () => {
    const { seen, counting } = statusRecorder();
    const c = new PercolateClient({ url: limited.url, tenant: 'rl2', retries: 3, fetch: counting });
    await c.resources.put({ uri: 'doc://a', content: 'a' });
    seen.length = 0;
    await expect(c.query('SELEC nonsense')).rejects.toMatchObject({ status: 400, code: 'invalid_query' });
    expect(seen).toEqual([400]);
  });
});

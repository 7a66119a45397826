// Hardening of the query language, schemas and traversals, tested as a hostile tenant would act: every request below
// once froze, exhausted or poisoned the node. Each test sends it to a node running in its own process and checks that
// the answer is a 4xx or a bounded answer (status, `truncated`, `bound`, size) AND that meanwhile the node stayed live
// (`/health/live` within 250 ms) and another tenant's searches kept succeeding.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeWhile, seedQuietTenant, startNodeProcess, type NodeProcess, type Responsiveness } from './support/hostile.js';
import { waitFor } from './support/wait.js';

const MIB = 1024 * 1024;
const RESPONSE_BYTES_MAX = MIB;
const TRAVERSAL_EDGES_MAX = 1000;
const TIME_MS_MAX = 200;
/** The default PERCOLATE_QUERY_STEP_MS_MAX (node A runs with the default query bounds). */
const STEP_MS_MAX = 100;
const QUIET = 'quiet';
/** What surrounds rows or nodes in an answer besides the budgeted part (keys, stats, took_ms). */
const ENVELOPE = 1024;

/** Node A: small response and edge bounds. Node B: a small query time bound. */
let a: NodeProcess;
let b: NodeProcess;

interface Answer {
  status: number;
  /** Bytes of the answer as sent. */
  bytes: number;
  body: any;
}

/** A request with a deadline (a node whose event loop is blocked answers status 0 instead of hanging the test). */
async function send(node: NodeProcess, method: string, path: string, tenant: string, body?: unknown, timeoutMs = 20_000): Promise<Answer> {
  try {
    const res = await fetch(node.url + path, {
      method,
      headers: { 'x-tenant-id': tenant, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* keep the text */
    }
    return { status: res.status, bytes: Buffer.byteLength(text, 'utf8'), body: parsed };
  } catch {
    return { status: 0, bytes: 0, body: undefined };
  }
}

const query = (node: NodeProcess, tenant: string, q: string, params: unknown[] = []) => send(node, 'POST', '/api/v1/query', tenant, { query: q, params });

async function write(node: NodeProcess, tenant: string, path: string, field: string, items: unknown[]): Promise<void> {
  for (let i = 0; i < items.length; i += 1000) {
    const res = await send(node, 'POST', path, tenant, { [field]: items.slice(i, i + 1000) }, 60_000);
    if (res.status !== 201) throw new Error(`writing ${field} failed: ${res.status} ${JSON.stringify(res.body).slice(0, 500)}`);
  }
}

/** Runs the hostile request while probing the node; returns its answer after checking the node stayed responsive. */
async function hostile(node: NodeProcess, work: () => Promise<Answer>): Promise<Answer> {
  const { result, responsiveness } = await probeWhile(node.url, work, { otherTenant: QUIET });
  expectResponsive(responsiveness);
  return result;
}

function expectResponsive(r: Responsiveness): void {
  expect(r.probes).toBeGreaterThan(0);
  expect(r.healthMaxMs).toBeLessThan(250);
  expect(r.searchStatuses.length).toBeGreaterThan(0);
  expect(r.searchStatuses.every((s) => s === 200)).toBe(true);
}

/** Stops a node; one whose event loop is stuck does not handle SIGTERM, so it is killed after a few seconds. */
async function stop(node: NodeProcess | undefined): Promise<void> {
  if (!node) return;
  const timer = setTimeout(() => node.proc.child.kill('SIGKILL'), 5000);
  try {
    await node.close();
  } finally {
    clearTimeout(timer);
  }
}

beforeAll(async () => {
  [a, b] = await Promise.all([
    startNodeProcess({ PERCOLATE_RESPONSE_BYTES_MAX: String(RESPONSE_BYTES_MAX), PERCOLATE_TRAVERSAL_EDGES_MAX: String(TRAVERSAL_EDGES_MAX) }),
    startNodeProcess({ PERCOLATE_QUERY_TIME_MS_MAX: String(TIME_MS_MAX) }),
  ]);
  await Promise.all([seedQuietTenant(a.url, QUIET), seedQuietTenant(b.url, QUIET)]);
});

afterAll(async () => {
  await Promise.all([stop(a), stop(b)]);
});

describe('LIKE', () => {
  it('a pattern with several % over a 3,000-character record answers at once (no backtracking)', async () => {
    const T = 'like-several';
    await write(a, T, '/api/v1/resources', 'resources', [
      { uri: 'long://a', content: 'a'.repeat(3500) },
      { uri: 'long://b', content: `${'a'.repeat(3500)}b` },
    ]);
    const res = await hostile(a, () => query(a, T, "SELECT uri FROM resources WHERE content LIKE '%a%a%a%a%a%a%a%a%a%b' ORDER BY uri"));
    expect(res.status).toBe(200);
    expect(res.body.rows).toEqual([{ uri: 'long://b' }]);
    expect(res.body.truncated).toBe(false);
  });
});

describe('query time bound', () => {
  it('a LIKE over rows that take seconds each stops inside the first row at PERCOLATE_QUERY_STEP_MS_MAX, not at the time bound', async () => {
    const T = 'slow-rows';
    // rows that take seconds each to test: O(text x pattern) for the matcher, far worse for a backtracking RegExp. The
    // scan pauses between rows but not inside one, so with the default time bound (5 s) one such row held the event
    // loop of the whole node for 4 s; the step bound (100 ms by default) stops the query inside it
    await write(a, T, '/api/v1/resources', 'resources', Array.from({ length: 10 }, (_, i) => ({ uri: `slow://${i}`, content: 'a'.repeat(200_000) })));
    const pattern = `%a%a%${`${'a'.repeat(60)}_`.repeat(30)}c%`;
    const like = await hostile(a, () => query(a, T, 'SELECT COUNT(*) AS n FROM resources WHERE content LIKE $1', [pattern]));
    expect(like.status).toBe(200);
    expect(like.body).toMatchObject({ truncated: true, bound: 'step_ms_max', rows: [{ n: 0 }] });
    expect(like.body.stats.rows_scanned).toBe(1);
    // the step bound plus a few milliseconds (and slack for a busy machine), not the rest of the row or the time bound
    expect(like.body.took_ms).toBeLessThan(STEP_MS_MAX + 150);
  });

  it('a sort of many rows stops at PERCOLATE_QUERY_TIME_MS_MAX', async () => {
    // many rows ordered by an object (compared by its JSON text): the scan stops at the bound, the sort right after
    const S = 'slow-sort';
    const metadata = (i: number) => Object.fromEntries(Array.from({ length: 40 }, (_, k) => [`field_${k}`, `value ${k} of a record numbered ${i}`]));
    await write(b, S, '/api/v1/resources', 'resources', Array.from({ length: 8000 }, (_, i) => ({ uri: `sort://${i}`, content: `record ${i}`, metadata: metadata(i) })));
    // once the node has taken the vectors into its graph (background work that would slow the scan), the timed scan
    // gathers thousands of rows before its deadline: the sort of those is what must not outlast the bound
    await waitFor('vectors inserted', async () => /^percolate_vectors_pending_insert 0$/m.test((await fetch(`${b.url}/metrics`).then((r) => r.text())) ?? ''));
    const sorted = await hostile(b, () => query(b, S, 'SELECT uri FROM resources ORDER BY metadata DESC LIMIT 10 OFFSET 50000'));
    expect(sorted.status).toBe(200);
    expect(sorted.body).toMatchObject({ truncated: true, bound: 'time_ms_max' });
    expect(sorted.body.stats.rows_scanned).toBeLessThan(8000);
    expect(sorted.body.took_ms).toBeLessThan(TIME_MS_MAX + 150);
  });
});

describe('schema patterns', () => {
  const schema = { type: 'object', properties: { w: { type: 'string', pattern: '^(a+)+$' } } };

  it('a pattern such as ^(a+)+$ checks entity writes in linear time', async () => {
    const T = 'pattern-writes';
    const put = await send(a, 'PUT', '/api/v1/schemas/word', T, { schema });
    expect(put.status).toBe(201);
    const res = await hostile(a, () => send(a, 'POST', '/api/v1/entities', T, { type: 'word', key: 'evil', properties: { w: `${'a'.repeat(40)}!` } }));
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('schema_violation');
    expect(res.body.error.details).toEqual([expect.objectContaining({ path: '/properties/w', keyword: 'pattern' })]);
    const ok = await send(a, 'POST', '/api/v1/entities', T, { type: 'word', key: 'fine', properties: { w: 'a'.repeat(40) } });
    expect(ok.status).toBe(201);
  });

  it('the same pattern added over existing entities backfills in linear time', async () => {
    const T = 'pattern-backfill';
    await write(a, T, '/api/v1/entities', 'entities', Array.from({ length: 300 }, (_, i) => ({ type: 'phrase', key: `p${i}`, properties: { w: `${'a'.repeat(30)}!` } })));
    const res = await hostile(a, () => send(a, 'PUT', '/api/v1/schemas/phrase', T, { schema }));
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ indexed: 300, violations: 300 });
  });

  it('a pattern RE2 cannot run in linear time (backreference, lookaround) refuses the schema, naming it', async () => {
    const T = 'pattern-refused';
    const backref = { type: 'object', properties: { w: { type: 'string', pattern: '^(a+)\\1$' } } };
    const res = await hostile(a, () => send(a, 'PUT', '/api/v1/schemas/word', T, { schema: backref }));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(res.body.error.message).toContain('^(a+)\\1$');
    expect(res.body.error.message).toContain('/properties/w/pattern');
    const lookahead = { type: 'object', properties: { tags: { type: 'object', patternProperties: { '^(?=a)(a|b)+$': { type: 'string' } } } } };
    const res2 = await send(a, 'PUT', '/api/v1/schemas/word', T, { schema: lookahead });
    expect(res2.status).toBe(400);
    expect(res2.body.error.message).toContain('^(?=a)(a|b)+$');
    expect(res2.body.error.message).toContain('/properties/tags/patternProperties/^(?=a)(a|b)+$');
    expect((await send(a, 'GET', '/api/v1/schemas/word', T)).status).toBe(404);
  });

  it('uniqueItems needs a small enough maxItems beside it, and stays linear on oversized arrays', async () => {
    const T = 'unique-items';
    const tagged = (items: Record<string, unknown>) => ({ type: 'object', properties: { tags: { type: 'array', uniqueItems: true, ...items } } });
    const none = await send(a, 'PUT', '/api/v1/schemas/bag', T, { schema: tagged({}) });
    expect(none.status).toBe(400);
    expect(none.body.error.code).toBe('invalid_request');
    expect(none.body.error.message).toContain('/properties/tags/uniqueItems');
    const big = await send(a, 'PUT', '/api/v1/schemas/bag', T, { schema: tagged({ maxItems: 5000 }) });
    expect(big.status).toBe(400);
    expect(big.body.error.message).toContain('maxItems');
    expect((await send(a, 'PUT', '/api/v1/schemas/bag', T, { schema: tagged({ maxItems: 1000 }) })).status).toBe(201);
    // 100,000 distinct objects: a pairwise check would compare five billion pairs
    const tags = Array.from({ length: 100_000 }, (_, i) => ({ n: i }));
    const res = await hostile(a, () => send(a, 'POST', '/api/v1/entities', T, { type: 'bag', key: 'huge', properties: { tags } }));
    expect(res.status).toBe(422);
    expect(res.body.error.details).toEqual([expect.objectContaining({ path: '/properties/tags', keyword: 'maxItems' })]);
    const dup = await send(a, 'POST', '/api/v1/entities', T, { type: 'bag', key: 'dup', properties: { tags: [{ n: 1, m: 2 }, { m: 2, n: 1 }] } });
    expect(dup.status).toBe(422);
    expect(dup.body.error.details).toEqual([expect.objectContaining({ keyword: 'uniqueItems' })]);
  });
});

describe('prototype keys in field paths', () => {
  it('properties.__proto__ / constructor / toString match only entities that hold such a key', async () => {
    const T = 'proto-keys';
    const owned = ['constructor', 'toString', 'isPrototypeOf', 'hasOwnProperty'];
    await write(a, T, '/api/v1/entities', 'entities', [
      ...owned.map((k) => ({ type: 'proto', key: `has-${k}`, properties: { [k]: `own ${k}` } })),
      { type: 'proto', key: 'plain', properties: { other: 1 } },
    ]);
    const res = await hostile(a, () => query(a, T, "SELECT key FROM entities WHERE type = 'proto' AND properties.__proto__ IS NOT NULL"));
    expect(res.status).toBe(200);
    expect(res.body.rows).toEqual([]);
    for (const k of owned) {
      const r = await query(a, T, `SELECT key, properties.${k} AS v FROM entities WHERE type = 'proto' AND properties.${k} IS NOT NULL`);
      expect(r.status).toBe(200);
      expect(r.body.rows).toEqual([{ key: `has-${k}`, v: `own ${k}` }]);
      const missing = await query(a, T, `SELECT key FROM entities WHERE type = 'proto' AND properties.${k} IS NULL ORDER BY key`);
      expect(missing.body.rows).toHaveLength(owned.length);
    }
    // a column or alias named __proto__ (or after Object.prototype's members) is a column like any other
    const cols = await query(a, T, "SELECT key AS __proto__, properties.toString AS constructor FROM entities WHERE key = 'has-toString'");
    expect(cols.status).toBe(200);
    expect(cols.body.rows).toHaveLength(1);
    expect(Object.hasOwn(cols.body.rows[0], '__proto__')).toBe(true);
    expect(cols.body.rows[0]['__proto__']).toBe('has-toString');
    expect(cols.body.rows[0].constructor).toBe('own toString');
    const grouped = await query(a, T, "SELECT properties.constructor AS __proto__, COUNT(*) AS toString FROM entities WHERE type = 'proto' GROUP BY properties.constructor ORDER BY toString");
    expect(grouped.status).toBe(200);
    expect(grouped.body.rows.map((r: object) => Object.entries(r))).toEqual([
      [['__proto__', 'own constructor'], ['toString', 1]],
      [['__proto__', null], ['toString', 4]],
    ]);
  });
});

describe('response budgets', () => {
  const DENSE = 400;
  const DEGREE = 150;
  const FAN_IN = 3000;
  const T = 'graphs';
  const id = async (key: string) => (await send(a, 'GET', `/api/v1/entities?key=${encodeURIComponent(key)}&type=node`, T)).body.results[0].id as string;

  beforeAll(async () => {
    // a dense graph: every node links to DEGREE others (each record carries its DEGREE edges)
    const dense = Array.from({ length: DENSE }, (_, i) => ({
      type: 'node',
      key: `d${i}`,
      edges: Array.from({ length: DEGREE }, (_, j) => ({ rel: 'link', to: { type: 'node', key: `d${(i + 1 + j * 2) % DENSE}` } })),
    }));
    // a hub with FAN_IN small entities pointing at it
    const fans = Array.from({ length: FAN_IN }, (_, i) => ({ type: 'node', key: `f${i}`, edges: [{ rel: 'likes', to: { type: 'node', key: 'hub' } }] }));
    await write(a, T, '/api/v1/entities', 'entities', [...dense, { type: 'node', key: 'hub' }, ...fans]);
  });

  it('a 3-hop TRAVERSE of a dense graph stops at the byte budget', async () => {
    const res = await hostile(a, () => query(a, T, "TRAVERSE FROM 'd0' DEPTH 3 DIRECTION both"));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ truncated: true, bound: 'response_bytes_max' });
    expect(res.bytes).toBeLessThanOrEqual(RESPONSE_BYTES_MAX + ENVELOPE);
    expect(res.body.results.length).toBeGreaterThan(1);
    expect(res.body.results.length).toBeLessThan(DENSE);
    // the edges listed join listed nodes
    const listed = new Set(res.body.results.map((n: { id: string }) => n.id));
    for (const e of res.body.edges) expect(listed.has(e.from) && listed.has(e.to)).toBe(true);
  });

  it('the neighbors route stops at the byte budget and at the edge cap, and says which', async () => {
    const d0 = await id('d0');
    const dense = await hostile(a, () => send(a, 'GET', `/api/v1/entities/${d0}/neighbors?depth=3&direction=both`, T));
    expect(dense.status).toBe(200);
    expect(dense.body).toMatchObject({ truncated: true, bound: 'response_bytes_max' });
    expect(dense.bytes).toBeLessThanOrEqual(RESPONSE_BYTES_MAX + ENVELOPE);
    const hub = await id('hub');
    const fan = await hostile(a, () => send(a, 'GET', `/api/v1/entities/${hub}/neighbors?depth=2&direction=in`, T));
    expect(fan.status).toBe(200);
    expect(fan.body).toMatchObject({ truncated: true, bound: 'traversal_edges_max' });
    expect(fan.body.edges).toHaveLength(TRAVERSAL_EDGES_MAX);
    expect(fan.bytes).toBeLessThanOrEqual(RESPONSE_BYTES_MAX + ENVELOPE);
    const viaQuery = await query(a, T, "TRAVERSE FROM 'hub' DIRECTION in");
    expect(viaQuery.body).toMatchObject({ truncated: true, bound: 'traversal_edges_max' });
  });

  it('SELECT * over records totalling well over PERCOLATE_RESPONSE_BYTES_MAX is truncated at the bound', async () => {
    const R = 'big-records';
    const word = 'large record text ';
    await write(a, R, '/api/v1/resources', 'resources', Array.from({ length: 40 }, (_, i) => ({ uri: `big://${String(i).padStart(2, '0')}`, content: word.repeat(11_000) })));
    // 40 records of about 200 kB: eight times the bound (and a search answering a few of them is still over it)
    for (const q of [
      'SELECT * FROM resources',
      'SELECT * FROM resources ORDER BY name, uri DESC',
      'SELECT uri, content FROM resources WHERE uri LIKE $1',
      "SEARCH 'large record' IN resources LIMIT 40",
    ]) {
      const res = await hostile(a, () => query(a, R, q, q.includes('$1') ? ['big://%'] : []));
      expect(res.status, q).toBe(200);
      expect(res.body, q).toMatchObject({ truncated: true, bound: 'response_bytes_max' });
      expect(res.bytes, q).toBeLessThanOrEqual(RESPONSE_BYTES_MAX + ENVELOPE);
      const got = res.body.rows ?? res.body.results;
      expect(got.length, q).toBeGreaterThan(0);
      expect(got.length, q).toBeLessThan(40);
    }
  });
});

// Access control on the database node, end to end through HTTP: the token matrix (no token, alg none, expired,
// not yet valid, wrong audience, unknown kid, bad signature, another tenant, a ro write, admin on /sync), key
// rotation with two keys then one, an identity provider's JWKS served from a loopback server and refreshed, the
// OpenAI client with the token as its API key, /metrics behind a token, per-tenant rate limits and quotas that
// leave nothing written, CORS preflight, and logs that never contain a token.
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { SignJWT, UnsecuredJWT, exportJWK, generateKeyPair, type JWK } from 'jose';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateJwk, KeyRing } from '../shared/auth/keys.js';
import { mintToken, type Scope } from '../shared/auth/tokens.js';
import { startNode, type TestNode } from './support/api.js';
import { startNodeProcess } from './support/hostile.js';
import { tempDir } from './support/tmp.js';
import { waitFor } from './support/wait.js';

const AUD = 'auth-test';
let dir: { dir: string; cleanup: () => Promise<void> };
let keysFile: string;
let jwks: JWK[];
let ring: KeyRing;
let node: TestNode;

const token = (tenant: string, scope: Scope, over: Partial<Parameters<typeof mintToken>[1]> = {}) =>
  mintToken(ring, { tenant, scope, ttlS: 600, sub: 'tester', audience: AUD, ...over });

async function call(n: TestNode, method: string, p: string, o: { tenant?: string; token?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  if (o.tenant) headers['x-tenant-id'] = o.tenant;
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(n.url + p, { method, headers, body: o.body === undefined ? undefined : JSON.stringify(o.body) });
  const text = await res.text();
  const json = (res.headers.get('content-type') ?? '').includes('json');
  return { status: res.status, headers: res.headers, body: json && text ? JSON.parse(text) : text };
}

beforeAll(async () => {
  dir = await tempDir();
  jwks = [await generateJwk('EdDSA'), await generateJwk('HS256')];
  keysFile = path.join(dir.dir, 'jwks.json');
  await fs.writeFile(keysFile, JSON.stringify({ keys: jwks }));
  ring = await KeyRing.fromJwks({ keys: jwks }, 'test');
  node = await startNode({ PERCOLATE_AUTH: 'required', PERCOLATE_AUTH_KEYS_FILE: keysFile, PERCOLATE_AUTH_AUDIENCE: AUD });
});

afterAll(async () => {
  await node?.close();
  await dir?.cleanup();
});

describe('the token matrix', () => {
  it('answers 401 with WWW-Authenticate and a code naming the check for every bad token', async () => {
    const [ed, hs] = ring.kids;
    const { ring: other } = { ring: await KeyRing.fromJwks({ keys: [await generateJwk('EdDSA')] }, 'other') };
    const good = await token('acme', 'rw');
    const cases: [string, string | undefined, string][] = [
      ['no token', undefined, 'token_missing'],
      ['alg none', new UnsecuredJWT({ tenant: 'acme', scope: 'rw', aud: AUD }).setExpirationTime('10m').encode(), 'token_algorithm'],
      ['expired', await token('acme', 'rw', { nowS: Math.floor(Date.now() / 1000) - 7200, ttlS: 600 }), 'token_expired'],
      [
        'not yet valid',
        await new SignJWT({ tenant: 'acme', scope: 'rw' }).setProtectedHeader({ alg: 'EdDSA', kid: ed! }).setAudience(AUD).setNotBefore('10m').setExpirationTime('20m').sign(ring.signingKey(ed).key),
        'token_not_yet_valid',
      ],
      ['wrong audience', await token('acme', 'rw', { audience: 'elsewhere' }), 'token_audience'],
      ['unknown kid', await mintToken(other, { tenant: 'acme', scope: 'rw', ttlS: 600, audience: AUD }), 'token_unknown_key'],
      ['bad signature', `${good.slice(0, good.lastIndexOf('.'))}.${(await token('acme', 'rw', { kid: hs, sub: 'x' })).split('.')[2]}`, 'token_signature'],
    ];
    for (const [what, t, code] of cases) {
      const res = await call(node, 'GET', '/api/v1/tenant', { tenant: 'acme', ...(t ? { token: t } : {}) });
      expect(res.status, what).toBe(401);
      expect(res.body.error.code, what).toBe(code);
      const www = res.headers.get('www-authenticate')!;
      expect(www, what).toMatch(/^Bearer realm="percolate"/);
      if (code !== 'token_missing') expect(www, what).toMatch(/error="invalid_token"/);
      expect(JSON.stringify(res.body), what).not.toContain(t ?? '\u0000none');
    }
  });

  it('answers 403 for another tenant, a ro write and a non-admin /sync; accepts what the token covers', async () => {
    const ro = await token('acme', 'ro');
    const rw = await token('acme', 'rw', { kid: ring.kids[1] }); // HS256
    const admin = await token('*', 'admin');
    const write = { uri: 'doc://1', content: 'authorised write' };
    expect((await call(node, 'POST', '/api/v1/resources', { tenant: 'acme', token: rw, body: write })).status).toBe(201);
    const other = await call(node, 'POST', '/api/v1/resources', { tenant: 'globex', token: rw, body: write });
    expect([other.status, other.body.error.code]).toEqual([403, 'tenant_forbidden']);
    const roWrite = await call(node, 'POST', '/api/v1/resources', { tenant: 'acme', token: ro, body: write });
    expect([roWrite.status, roWrite.body.error.code]).toEqual([403, 'scope_forbidden']);
    // reads with ro: GET routes, and the POST routes that only read
    expect((await call(node, 'GET', '/api/v1/resources', { tenant: 'acme', token: ro })).status).toBe(200);
    expect((await call(node, 'POST', '/api/v1/search', { tenant: 'acme', token: ro, body: { query: 'authorised' } })).status).toBe(200);
    expect((await call(node, 'POST', '/api/v1/query', { tenant: 'acme', token: ro, body: { query: "SELECT id FROM resources" } })).status).toBe(200);
    const chat = await call(node, 'POST', '/api/v1/chat', { tenant: 'acme', token: ro, body: { messages: [{ role: 'user', content: 'what was written?' }] } });
    expect(chat.status).toBe(200);
    const session = await call(node, 'POST', '/api/v1/chat', { tenant: 'acme', token: ro, body: { messages: [{ role: 'user', content: 'hi' }] }, headers: { 'x-session-id': 's1' } });
    expect([session.status, session.body.error.code]).toEqual([403, 'scope_forbidden']);
    // schema changes and /sync are administration
    const schema = { schema: { type: 'object' } };
    expect((await call(node, 'PUT', '/api/v1/schemas/person', { tenant: 'acme', token: rw, body: schema })).status).toBe(403);
    expect((await call(node, 'PUT', '/api/v1/schemas/person', { tenant: 'acme', token: admin, body: schema })).status).toBe(201);
    const digest = await call(node, 'GET', '/api/v1/tenant/digest', { tenant: 'acme', token: ro });
    expect(digest.status).toBe(200);
    const sync = { ops: [{ v: 1, op_id: 'x#0', tenant: 'acme', node: 'peer', hlc: `${String(Date.now()).padStart(15, '0')}.000000.peer`, mutations: [{ type: 'delete', kind: 'resources', id: 'a'.repeat(32) }] }] };
    sync.ops[0]!.op_id = `${sync.ops[0]!.hlc}#0`;
    const bySync = await call(node, 'POST', '/api/v1/sync', { tenant: 'acme', token: rw, body: sync });
    expect([bySync.status, bySync.body.error.code]).toEqual([403, 'scope_forbidden']);
    expect((await call(node, 'POST', '/api/v1/sync', { tenant: 'acme', token: admin, body: sync })).status).toBe(200);
    // a `*` token serves every tenant
    expect((await call(node, 'GET', '/api/v1/resources', { tenant: 'acme', token: await token('*', 'ro') })).status).toBe(200);
    // health stays open; metrics are open by default
    expect((await call(node, 'GET', '/health/live')).status).toBe(200);
    expect((await call(node, 'GET', '/metrics')).status).toBe(200);
    // failures are counted by reason
    const metrics = await (await fetch(`${node.url}/metrics`)).text();
    expect(metrics).toMatch(/percolate_auth_failures_total\{reason="tenant_forbidden"\} [1-9]/);
    expect(metrics).toMatch(/percolate_auth_failures_total\{reason="token_missing"\} [1-9]/);
  });

  it('accepts the token as the API key of the official OpenAI client', async () => {
    const rw = await token('acme', 'rw');
    const client = new OpenAI({ apiKey: await token('acme', 'ro'), baseURL: `${node.url}/v1`, defaultHeaders: { 'x-tenant-id': 'acme' }, maxRetries: 0 });
    await call(node, 'POST', '/api/v1/resources', { tenant: 'acme', token: rw, body: { uri: 'doc://ai', content: 'Ada Lovelace wrote the first program' } });
    const res = await client.chat.completions.create({ model: 'percolate', messages: [{ role: 'user', content: 'Who wrote the first program?' }] });
    expect(res.choices[0]!.message.content).toMatch(/Ada/);
    const bad = new OpenAI({ apiKey: 'sk-not-a-token', baseURL: `${node.url}/v1`, defaultHeaders: { 'x-tenant-id': 'acme' }, maxRetries: 0 });
    await expect(bad.chat.completions.create({ model: 'percolate', messages: [{ role: 'user', content: 'hi' }] })).rejects.toMatchObject({ status: 401 });
  });
});

describe('keys', () => {
  it('rotates without downtime: two keys active, then the old one removed', async () => {
    const oldKey = await generateJwk('EdDSA');
    const newKey = await generateJwk('EdDSA');
    const file = path.join(dir.dir, 'rotation.json');
    const both = await KeyRing.fromJwks({ keys: [oldKey, newKey] }, 'both');
    const oldToken = await mintToken(both, { tenant: 'acme', scope: 'ro', ttlS: 600, audience: AUD, kid: oldKey.kid });
    const newToken = await mintToken(both, { tenant: 'acme', scope: 'ro', ttlS: 600, audience: AUD });
    await fs.writeFile(file, JSON.stringify({ keys: [oldKey, newKey] }));
    const dataDir = path.join(dir.dir, 'rotation-data');
    const a = await startNode({ PERCOLATE_AUTH: 'required', PERCOLATE_AUTH_KEYS_FILE: file, PERCOLATE_AUTH_AUDIENCE: AUD }, { dataDir });
    try {
      await call(a, 'POST', '/api/v1/resources', { tenant: 'acme', token: await mintToken(both, { tenant: 'acme', scope: 'rw', ttlS: 60, audience: AUD }), body: { uri: 'doc://r', content: 'r' } });
      expect((await call(a, 'GET', '/api/v1/tenant', { tenant: 'acme', token: oldToken })).status).toBe(200);
      expect((await call(a, 'GET', '/api/v1/tenant', { tenant: 'acme', token: newToken })).status).toBe(200);
    } finally {
      await a.close();
    }
    await fs.writeFile(file, JSON.stringify({ keys: [newKey] }));
    const b = await startNode({ PERCOLATE_AUTH: 'required', PERCOLATE_AUTH_KEYS_FILE: file, PERCOLATE_AUTH_AUDIENCE: AUD }, { dataDir });
    try {
      const refused = await call(b, 'GET', '/api/v1/tenant', { tenant: 'acme', token: oldToken });
      expect([refused.status, refused.body.error.code]).toEqual([401, 'token_unknown_key']);
      expect((await call(b, 'GET', '/api/v1/tenant', { tenant: 'acme', token: newToken })).status).toBe(200);
    } finally {
      await b.close();
    }
  });

  it("verifies an identity provider's tokens from its JWKS, fetched again when it rotates", async () => {
    const idp = { keys: [] as JWK[], fetches: 0 };
    const server = http.createServer((req, res) => {
      idp.fetches++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: idp.keys }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/jwks.json`;
    const signer = async (kid: string) => {
      const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
      idp.keys.push({ ...(await exportJWK(publicKey)), kid, alg: 'EdDSA' });
      // Keycloak-style claims: the tenant and the scope under other names
      return (scope: string) =>
        new SignJWT({ org: 'acme', scp: scope }).setProtectedHeader({ alg: 'EdDSA', kid }).setAudience(AUD).setSubject('user@idp').setExpirationTime('10m').sign(privateKey);
    };
    const first = await signer('idp-1');
    const n = await startNode({
      PERCOLATE_AUTH: 'required',
      PERCOLATE_AUTH_JWKS_URL: url,
      PERCOLATE_AUTH_AUDIENCE: AUD,
      PERCOLATE_AUTH_TENANT_CLAIM: 'org',
      PERCOLATE_AUTH_SCOPE_CLAIM: 'scp',
      PERCOLATE_AUTH_JWKS_COOLDOWN_MS: '50',
    });
    try {
      expect((await call(n, 'POST', '/api/v1/resources', { tenant: 'acme', token: await first('openid percolate:rw'), body: { uri: 'doc://idp', content: 'from the idp' } })).status).toBe(201);
      const fetchesBefore = idp.fetches;
      const second = await signer('idp-2'); // the provider rotates
      const t = await second('percolate:ro');
      await waitFor('the rotated key to be fetched', async () => (await call(n, 'GET', '/api/v1/resources', { tenant: 'acme', token: t })).status === 200, 5_000);
      expect(idp.fetches).toBeGreaterThan(fetchesBefore);
      // no key was created on disk: the provider signs
      await expect(fs.access(path.join(n.dataDir, 'keys', 'jwks.json'))).rejects.toThrow();
    } finally {
      await n.close();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('creates a local signing key (mode 0600) on first start when none is configured', async () => {
    const n = await startNode({ PERCOLATE_AUTH: 'required', PERCOLATE_AUTH_AUDIENCE: AUD });
    try {
      const file = path.join(n.dataDir, 'keys', 'jwks.json');
      expect(((await fs.stat(file)).mode & 0o777).toString(8)).toBe('600');
      const local = await KeyRing.fromJwks(JSON.parse(await fs.readFile(file, 'utf8')), file);
      const t = await mintToken(local, { tenant: 'acme', scope: 'rw', ttlS: 60, audience: AUD });
      expect((await call(n, 'POST', '/api/v1/resources', { tenant: 'acme', token: t, body: { uri: 'doc://l', content: 'local key' } })).status).toBe(201);
    } finally {
      await n.close();
    }
  });
});

describe('limits', () => {
  it('rate-limits a tenant’s writes with 429, Retry-After and RateLimit headers, apart from its reads and other tenants', async () => {
    const n = await startNode({ PERCOLATE_AUTH: 'required', PERCOLATE_AUTH_KEYS_FILE: keysFile, PERCOLATE_AUTH_AUDIENCE: AUD, PERCOLATE_RATE_LIMIT_WRITES: '3', PERCOLATE_RATE_LIMIT_READS: '1000' });
    try {
      const t = await token('acme', 'rw');
      const write = (i: number, tenant = 'acme', tok = t) => call(n, 'POST', '/api/v1/resources', { tenant, token: tok, body: { uri: `doc://${i}`, content: `write ${i}` } });
      for (let i = 0; i < 3; i++) expect((await write(i)).status).toBe(201);
      const refused = await write(3);
      expect(refused.status).toBe(429);
      expect(refused.body.error.code).toBe('rate_limited');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(refused.headers.get('ratelimit-limit')).toBe('3');
      expect(refused.headers.get('ratelimit-remaining')).toBe('0');
      // nothing of the refused write was written; reads and other tenants go on
      const tenant = await call(n, 'GET', '/api/v1/tenant', { tenant: 'acme', token: t });
      expect(tenant.body.counts.resources).toBe(3);
      expect((await write(9, 'globex', await token('globex', 'rw'))).status).toBe(201);
      const metrics = await (await fetch(`${n.url}/metrics`)).text();
      expect(metrics).toMatch(/percolate_rate_limited_total\{kind="write"\} 1/);
    } finally {
      await n.close();
    }
  });

  it('refuses a batch that would exceed the records quota with 429 naming it, and writes nothing of it', async () => {
    const n = await startNode({ PERCOLATE_AUTH: 'required', PERCOLATE_AUTH_KEYS_FILE: keysFile, PERCOLATE_AUTH_AUDIENCE: AUD, PERCOLATE_QUOTA_RECORDS_MAX: '5' });
    try {
      const t = await token('acme', 'rw');
      const batch = (from: number, count: number) => ({ resources: Array.from({ length: count }, (_, i) => ({ uri: `doc://${from + i}`, content: `record ${from + i}` })) });
      expect((await call(n, 'POST', '/api/v1/resources', { tenant: 'acme', token: t, body: batch(0, 4) })).status).toBe(201);
      const refused = await call(n, 'POST', '/api/v1/resources', { tenant: 'acme', token: t, body: batch(4, 2) });
      expect(refused.status).toBe(429);
      expect(refused.body.error).toMatchObject({ code: 'quota_exceeded', details: { quota: 'records', limit: 5, usage: 4, adding: 2 } });
      expect((await call(n, 'GET', '/api/v1/tenant', { tenant: 'acme', token: t })).body.counts.resources).toBe(4);
      // rewriting records the tenant holds adds none: allowed at the limit
      expect((await call(n, 'POST', '/api/v1/resources', { tenant: 'acme', token: t, body: batch(0, 4) })).status).toBe(201);
      expect((await call(n, 'POST', '/api/v1/resources', { tenant: 'acme', token: t, body: batch(4, 1) })).status).toBe(201);
      const metrics = await (await fetch(`${n.url}/metrics`)).text();
      expect(metrics).toMatch(/percolate_rate_limited_total\{kind="quota_records"\} 1/);
    } finally {
      await n.close();
    }
  });

  it('puts /metrics behind an admin token for every tenant when PERCOLATE_METRICS_AUTH is on', async () => {
    const n = await startNode({ PERCOLATE_AUTH: 'required', PERCOLATE_AUTH_KEYS_FILE: keysFile, PERCOLATE_AUTH_AUDIENCE: AUD, PERCOLATE_METRICS_AUTH: 'true' });
    try {
      expect((await call(n, 'GET', '/metrics')).status).toBe(401);
      expect((await call(n, 'GET', '/metrics', { token: await token('acme', 'admin') })).status).toBe(403);
      const ok = await fetch(`${n.url}/metrics`, { headers: { authorization: `Bearer ${await token('*', 'admin')}` } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toMatch(/percolate_http_request_duration_seconds/);
      expect((await call(n, 'GET', '/health/ready')).status).toBe(200);
    } finally {
      await n.close();
    }
  });
});

describe('CORS and logs', () => {
  it('answers a browser preflight for an allowed origin only', async () => {
    const n = await startNode({ PERCOLATE_AUTH: 'required', PERCOLATE_AUTH_KEYS_FILE: keysFile, PERCOLATE_AUTH_AUDIENCE: AUD, PERCOLATE_CORS_ORIGINS: 'https://app.example.com' });
    try {
      const preflight = (origin: string) =>
        fetch(`${n.url}/api/v1/search`, {
          method: 'OPTIONS',
          headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,x-tenant-id,content-type' },
        });
      const ok = await preflight('https://app.example.com');
      expect(ok.status).toBe(204);
      expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
      expect(ok.headers.get('access-control-allow-headers')!.toLowerCase()).toMatch(/authorization.*x-tenant-id/);
      const bad = await preflight('https://evil.example.com');
      expect(bad.headers.get('access-control-allow-origin')).toBeNull();
      // a real request exposes X-Request-Id to the page
      const res = await fetch(`${n.url}/api/v1/search`, {
        method: 'POST',
        headers: { origin: 'https://app.example.com', authorization: `Bearer ${await token('acme', 'ro')}`, 'x-tenant-id': 'acme', 'content-type': 'application/json' },
        body: JSON.stringify({ query: 'x' }),
      });
      expect(res.headers.get('access-control-expose-headers')!.toLowerCase()).toContain('x-request-id');
      expect(res.headers.get('x-request-id')).toBeTruthy();
    } finally {
      await n.close();
    }
  });

  it('never writes a token or key material to its logs, and writes an audit line per refusal', async () => {
    const n = await startNodeProcess({ PERCOLATE_AUTH: 'required', PERCOLATE_AUTH_KEYS_FILE: keysFile, PERCOLATE_AUTH_AUDIENCE: AUD, LOG_LEVEL: 'debug' });
    try {
      const tokens = [await token('acme', 'rw'), await token('acme', 'ro'), await token('globex', 'rw'), await token('acme', 'rw', { nowS: 1_000_000_000 })];
      const send = (t: string, tenant = 'acme') => fetch(`${n.url}/api/v1/resources`, { method: 'POST', headers: { authorization: `Bearer ${t}`, 'x-tenant-id': tenant, 'content-type': 'application/json' }, body: JSON.stringify({ uri: 'doc://log', content: 'logged?' }) });
      for (const t of tokens) await (await send(t)).arrayBuffer();
      await (await send(tokens[0]!, 'globex')).arrayBuffer();
      await (await fetch(`${n.url}/api/v1/tenant`, { headers: { authorization: 'Bearer not.a.token', 'x-tenant-id': 'acme' } })).arrayBuffer();
      await waitFor('the audit lines', async () => n.proc.output().split('\n').filter((l) => l.includes('"audit":true')).length >= 5, 5_000);
      const out = n.proc.output();
      for (const t of tokens) {
        expect(out).not.toContain(t);
        expect(out).not.toContain(t.split('.')[2]!); // not even the signature
      }
      expect(out).not.toContain('not.a.token');
      for (const k of jwks) {
        if (k.d) expect(out).not.toContain(k.d);
        if (k.k) expect(out).not.toContain(k.k);
      }
      const audits = out.split('\n').filter((l) => l.includes('"audit":true')).map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(audits.map((a) => a.reason), JSON.stringify(audits)).toEqual(expect.arrayContaining(['scope_forbidden', 'tenant_forbidden', 'token_expired', 'token_malformed']));
      expect(audits.every((a) => a.event === 'auth_failure' && typeof a.route === 'string')).toBe(true);
    } finally {
      await n.close();
    }
  });
});

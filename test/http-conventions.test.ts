// HTTP conventions of the database node as clients rely on them: 405 with Allow for a known path asked with another
// method (not 404), 415 for a body that is not JSON (text/plain included), Location on the 201 of a single record,
// and validation errors that name the field at fault in one `details` shape.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type TestNode } from './support/api.js';

let node: TestNode;
beforeAll(async () => {
  node = await startNode();
});
afterAll(async () => {
  await node.close();
});

async function raw(method: string, path: string, init: { body?: string; contentType?: string } = {}): Promise<Response> {
  const headers: Record<string, string> = { 'x-tenant-id': 'acme' };
  if (init.contentType) headers['content-type'] = init.contentType;
  return fetch(node.url + path, { method, headers, body: init.body });
}

describe('methods', () => {
  it('answers 405 method_not_allowed with Allow for a known path, and 404 route_not_found for an unknown one', async () => {
    const put = await raw('PUT', '/api/v1/resources', { body: '{}', contentType: 'application/json' });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')?.split(', ')).toEqual(['GET', 'HEAD', 'POST']);
    expect(((await put.json()) as any).error.code).toBe('method_not_allowed');

    // a parametrised path: GET and DELETE of one record
    const post = await raw('POST', '/api/v1/resources/some-id', { body: '{}', contentType: 'application/json' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')?.split(', ')).toEqual(['DELETE', 'GET', 'HEAD']);

    const missing = await raw('GET', '/api/v1/no-such-thing');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('allow')).toBeNull();
    expect(((await missing.json()) as any).error.code).toBe('route_not_found');
  });
});

describe('bodies', () => {
  it('refuses text/plain and other non-JSON bodies with 415 unsupported_media_type', async () => {
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const res = await raw('POST', '/api/v1/resources', { body: 'uri=doc://a&content=hello', contentType });
      expect(res.status, contentType).toBe(415);
      expect(((await res.json()) as any).error.code, contentType).toBe('unsupported_media_type');
    }
    expect((await node.call('GET', '/api/v1/tenant')).body.counts?.resources ?? 0).toBe(0);
  });

  it('names the unknown, missing or wrong field in the message and in details [{path, message, keyword}]', async () => {
    const unknown = await node.call('POST', '/api/v1/resources', { body: { resources: [{ uri: 'doc://a', content: 'x', colour: 'red' }] } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.code).toBe('invalid_request');
    expect(unknown.body.error.details).toContainEqual({ path: '/resources/0/colour', message: 'is not a known field', keyword: 'additionalProperties' });
    expect(unknown.body.error.message).toContain('resources.0.colour');

    const missing = await node.call('POST', '/api/v1/moments', { body: { moments: [{ name: 'standup' }] } });
    expect(missing.status).toBe(400);
    const required = (missing.body.error.details as { path: string; keyword: string }[]).filter((d) => d.keyword === 'required');
    expect(required.length).toBeGreaterThan(0);
    for (const d of required) expect(d.path).toMatch(/^\/moments\/0\/[a-z_]+$/);

    const wrongType = await node.call('POST', '/api/v1/resources', { body: { resources: [{ uri: 'doc://a', content: 42 }] } });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.error.details[0]).toMatchObject({ path: '/resources/0/content', keyword: 'type' });
  });
});

describe('created', () => {
  it('gives a single created record a Location that reads it back, and a batch none', async () => {
    const one = await fetch(`${node.url}/api/v1/resources`, {
      method: 'POST',
      headers: { 'x-tenant-id': 'acme', 'content-type': 'application/json' },
      body: JSON.stringify({ resources: [{ uri: 'doc://located', content: 'where it lives' }] }),
    });
    expect(one.status).toBe(201);
    const { ids } = (await one.json()) as { ids: string[] };
    const location = one.headers.get('location');
    expect(location).toBe(`/api/v1/resources/${encodeURIComponent(ids[0]!)}`);
    const got = await node.call('GET', location!);
    expect(got.status).toBe(200);
    expect(got.body.uri).toBe('doc://located');

    const entity = await fetch(`${node.url}/api/v1/entities`, {
      method: 'POST',
      headers: { 'x-tenant-id': 'acme', 'content-type': 'application/json' },
      body: JSON.stringify({ entities: [{ type: 'person', key: 'ada', name: 'Ada' }] }),
    });
    expect(entity.status).toBe(201);
    const readBack = await node.call('GET', entity.headers.get('location')!);
    expect(readBack.status).toBe(200);
    expect(readBack.body.name).toBe('Ada');

    const batch = await fetch(`${node.url}/api/v1/resources`, {
      method: 'POST',
      headers: { 'x-tenant-id': 'acme', 'content-type': 'application/json' },
      body: JSON.stringify({ resources: [{ uri: 'doc://b1', content: 'one' }, { uri: 'doc://b2', content: 'two' }] }),
    });
    expect(batch.status).toBe(201);
    expect(batch.headers.get('location')).toBeNull();
  });
});

describe('compression', () => {
  it('compresses large answers with br or gzip as the client accepts, and leaves small ones alone', async () => {
    for (const encoding of ['br', 'gzip']) {
      // undici's fetch decodes the body and keeps the header: the text is the metrics, and the header says how it came
      const res = await fetch(`${node.url}/metrics`, { headers: { 'accept-encoding': encoding } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-encoding'), encoding).toBe(encoding);
      expect(await res.text()).toContain('percolate_http_request_duration_seconds');
    }
    const plain = await fetch(`${node.url}/metrics`, { headers: { 'accept-encoding': 'identity' } });
    expect(plain.headers.get('content-encoding')).toBeNull();
    const small = await fetch(`${node.url}/health/live`, { headers: { 'accept-encoding': 'gzip' } });
    expect(small.headers.get('content-encoding')).toBeNull();
    expect(await small.json()).toEqual({ status: 'ok' });
  });
});

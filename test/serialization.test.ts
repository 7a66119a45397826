// Answers that do not fit their response schema: fast-json-stringify throws on a union no branch of which matches,
// which would answer 500 for data the node holds; the tolerant serializer sends such an answer as plain JSON and
// reports it, while answers that fit keep going through their schema (which drops unlisted fields of plain objects).
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { tolerantSerialization, type SchemaMismatch } from '../shared/http/serialization.js';

const record = (extra: boolean) => ({ kind: 'resource', id: 'a', ...(extra ? { stray: 1 } : {}) });

async function app(tolerant: boolean) {
  const reported: SchemaMismatch[] = [];
  const a = Fastify(tolerant ? { schemaController: tolerantSerialization((m) => reported.push(m)) } : {});
  const strict = (kind: string) => ({ type: 'object', additionalProperties: false, required: ['kind', 'id'], properties: { kind: { const: kind }, id: { type: 'string' } } });
  a.get('/one', { schema: { response: { 200: { anyOf: [strict('resource'), strict('entity')] } } } }, async (req) => record((req.query as { extra?: string }).extra === '1'));
  a.get('/plain', { schema: { response: { 200: { type: 'object', properties: { id: { type: 'string' } } } } } }, async () => ({ id: 'x', dropped: true }));
  await a.ready();
  return { a, reported };
}

describe('tolerant response serialization', () => {
  it('sends an answer that fits no union branch as plain JSON and reports it', async () => {
    const { a, reported } = await app(true);
    const res = await a.inject({ method: 'GET', url: '/one?extra=1' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(record(true));
    expect(reported).toEqual([expect.objectContaining({ method: 'GET', url: '/one', status: '200', err: expect.any(String) })]);
    // the default serializer answers the same request with a 500: what the wrapper is for
    const plain = await app(false);
    expect((await plain.a.inject({ method: 'GET', url: '/one?extra=1' })).statusCode).toBe(500);
    await plain.a.close();
    await a.close();
  });

  it('keeps serialising answers that fit through their schema', async () => {
    const { a, reported } = await app(true);
    expect((await a.inject({ method: 'GET', url: '/one' })).json()).toEqual(record(false));
    expect((await a.inject({ method: 'GET', url: '/plain' })).json()).toEqual({ id: 'x' });
    expect(reported).toEqual([]);
    await a.close();
  });
});

// The official `openai` npm client pointed at a node's OpenAI-compatible /v1: chat completions whole and streamed,
// models, and the tenant check (X-Tenant-ID through the client's defaultHeaders).
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type TestNode } from './support/api.js';

let node: TestNode;
let client: OpenAI;
const T = 'oai';
const question = [{ role: 'user' as const, content: 'Who developed the first compiler?' }];

beforeAll(async () => {
  node = await startNode();
  const resources = [
    { uri: 'notes://hopper', content: 'Grace Hopper developed the first compiler for a programming language.' },
    { uri: 'notes://bread', content: 'Bread is baked in ovens at high temperature.' },
  ];
  expect((await node.call('POST', '/api/v1/resources', { tenant: T, body: { resources } })).status).toBe(201);
  client = new OpenAI({ baseURL: `${node.url}/v1`, apiKey: 'not-needed', defaultHeaders: { 'X-Tenant-ID': T }, maxRetries: 0 });
});
afterAll(async () => {
  await node.close();
});

describe('openai client against /v1/chat/completions', () => {
  it('creates a chat.completion with the answer and citations', async () => {
    const res = await client.chat.completions.create({ model: 'percolate', messages: [{ role: 'system', content: 'Be brief.' }, ...question] });
    expect(res.object).toBe('chat.completion');
    expect(res.id).toMatch(/^chatcmpl-/);
    expect(res.model).toBe('percolate');
    expect(res.choices).toHaveLength(1);
    expect(res.choices[0]!.finish_reason).toBe('stop');
    expect(res.choices[0]!.message.role).toBe('assistant');
    expect(res.choices[0]!.message.content).toMatch(/^Grace Hopper developed the first compiler for a programming language\. \[1\]/);
    expect(res.usage!.total_tokens).toBe(res.usage!.prompt_tokens + res.usage!.completion_tokens);
    const citations = (res as unknown as { citations: { kind: string; uri: string }[] }).citations;
    expect(citations[0]).toMatchObject({ kind: 'resources', uri: 'notes://hopper' });
  });

  it('streams chat.completion.chunk events that add up to the same answer', async () => {
    const whole = await client.chat.completions.create({ model: 'percolate', messages: question });
    const stream = await client.chat.completions.create({ model: 'percolate', messages: question, stream: true, stream_options: { include_usage: true } });
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0]!.id)).toBe(true);
    expect(chunks[0]!.choices[0]!.delta.role).toBe('assistant');
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe(whole.choices[0]!.message.content);
    const finish = chunks.filter((c) => c.choices[0]?.finish_reason);
    expect(finish.map((c) => c.choices[0]!.finish_reason)).toEqual(['stop']);
    expect(chunks.at(-1)!.usage!.completion_tokens).toBeGreaterThan(0);
  });

  it('ends the raw event stream with data: [DONE]', async () => {
    const res = await fetch(`${node.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-tenant-id': T },
      body: JSON.stringify({ model: 'percolate', messages: question, stream: true }),
    });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const text = await res.text();
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(text.split('\n\n').filter(Boolean).slice(0, -1).every((e) => JSON.parse(e.replace(/^data: /, '')).object === 'chat.completion.chunk')).toBe(true);
  });

  it('lists the model it answers with', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['percolate-extractive']);
  });

  it('requires X-Tenant-ID like /api/v1 and validates the body', async () => {
    const anonymous = new OpenAI({ baseURL: `${node.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const err = await anonymous.chat.completions.create({ model: 'm', messages: question }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(400);
    expect((err as InstanceType<typeof OpenAI.APIError>).message).toMatch(/X-Tenant-ID header is required/);
    const bad = await client.chat.completions.create({ model: 'm', messages: question, n: 2 }).catch((e: unknown) => e);
    expect((bad as InstanceType<typeof OpenAI.APIError>).status).toBe(400);
    const unknownTenant = new OpenAI({ baseURL: `${node.url}/v1`, apiKey: 'x', defaultHeaders: { 'X-Tenant-ID': 'nobody' }, maxRetries: 0 });
    const missing = await unknownTenant.chat.completions.create({ model: 'm', messages: question }).catch((e: unknown) => e);
    expect((missing as InstanceType<typeof OpenAI.APIError>).status).toBe(404);
  });
});

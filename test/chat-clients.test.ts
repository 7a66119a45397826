// /v1/chat/completions as the client libraries people use see it: LangChain JS (@langchain/openai: invoke, stream,
// withStructuredOutput, bindTools) and the Vercel AI SDK (@ai-sdk/openai-compatible: generateText, streamText,
// generateObject, tools), against a node backed by a language model double that speaks the real wire format, and
// against a node with the extractive answerer. Also: what the node passes on to the model, how the model's errors
// reach the client (400 for its 400, 429 with Retry-After, 504 for a timeout), and chat's metrics.
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { tool as lcTool } from '@langchain/core/tools';
import { ChatOpenAI } from '@langchain/openai';
import { generateObject, generateText, jsonSchema, stepCountIs, streamText, tool as aiTool } from 'ai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startNode, type TestNode } from './support/api.js';
import { FakeModel } from './support/fake-model.js';

const T = 'clients';
const model = new FakeModel();
const DEFAULT_ANSWER = model.answer;
let withModel: TestNode;
let extractive: TestNode;

async function seed(node: TestNode): Promise<void> {
  const resources = [
    { uri: 'notes://radium', content: 'Radium was discovered in 1898 by Marie and Pierre Curie.' },
    { uri: 'notes://bread', content: 'Bread is baked in ovens at high temperature.' },
  ];
  expect((await node.call('POST', '/api/v1/resources', { tenant: T, body: { resources } })).status).toBe(201);
}

beforeAll(async () => {
  const baseUrl = await model.start();
  withModel = await startNode({ PERCOLATE_LLM_BASE_URL: baseUrl, PERCOLATE_LLM_MODEL: 'upstream-model', PERCOLATE_LLM_TIMEOUT_MS: '1000' });
  extractive = await startNode();
  await seed(withModel);
  await seed(extractive);
});
afterAll(async () => {
  await withModel?.close();
  await extractive?.close();
  await model.close();
});

const langchain = (node: TestNode, maxRetries = 0) =>
  new ChatOpenAI({ model: 'percolate', apiKey: 'unused', maxRetries, configuration: { baseURL: `${node.url}/v1`, defaultHeaders: { 'X-Tenant-ID': T } } });
const aiSdk = (node: TestNode) => createOpenAICompatible({ name: 'percolate', baseURL: `${node.url}/v1`, headers: { 'X-Tenant-ID': T } });

async function completions(node: TestNode, body: Record<string, unknown>): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await fetch(`${node.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-tenant-id': T }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: res.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : text };
}

const question = 'When was radium discovered?';

describe('what the node passes on to the model', () => {
  it('sends the client fields as given (tools, tool_choice, response_format, sampling, limits) with its own model and context', async () => {
    model.seen.length = 0;
    const tools = [{ type: 'function', function: { name: 'lookup_year', description: 'year of a discovery', parameters: { type: 'object', properties: { element: { type: 'string' } }, required: ['element'] } } }];
    const r = await completions(withModel, {
      model: 'whatever-the-client-says',
      messages: [{ role: 'user', content: question }],
      tools,
      tool_choice: 'auto',
      parallel_tool_calls: false,
      top_p: 0.5,
      seed: 7,
      stop: ['END'],
      max_completion_tokens: 50,
      presence_penalty: 0.1,
      user: 'u-1',
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const sent = model.seen[0]!;
    expect(sent).toMatchObject({ model: 'upstream-model', tools, tool_choice: 'auto', parallel_tool_calls: false, top_p: 0.5, seed: 7, stop: ['END'], max_completion_tokens: 50, presence_penalty: 0.1, user: 'u-1', stream: false });
    expect(sent.max_tokens).toBeUndefined();
    expect(sent.messages[0]!.role).toBe('system');
    expect(sent.messages[0]!.content).toContain('Radium was discovered in 1898 by Marie and Pierre Curie.');
    // the model called the tool: the answer carries the call, no content
    expect(r.body.choices[0]).toMatchObject({ finish_reason: 'tool_calls', message: { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'lookup_year', arguments: '{"element":"radium"}' } }] } });
  });

  it('passes a tool loop on in the wire format: the assistant call (content null) and the tool result', async () => {
    model.seen.length = 0;
    const call = { id: 'call_9', type: 'function', function: { name: 'lookup_year', arguments: '{"element":"radium"}' } };
    const r = await completions(withModel, {
      model: 'm',
      messages: [
        { role: 'user', content: question },
        { role: 'assistant', content: null, tool_calls: [call] },
        { role: 'tool', tool_call_id: 'call_9', content: '1898' },
      ],
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(model.seen[0]!.messages.slice(1)).toEqual([
      { role: 'user', content: question },
      { role: 'assistant', content: null, tool_calls: [call] },
      { role: 'tool', content: '1898', tool_call_id: 'call_9' },
    ]);
    expect(r.body.choices[0].message.content).toBe('The tool said 1898 [1].');
    expect(r.body.citations).toEqual([expect.objectContaining({ n: 1, uri: 'notes://radium' })]);
  });
});

describe("the model's errors reach the client with their meaning", () => {
  it('its 400 is a 400 with its message, sent once even by a client that retries', async () => {
    model.seen.length = 0;
    model.answer = () => ({ error: { status: 400, message: "This model's maximum context length is 8192 tokens" } });
    try {
      const r = await completions(withModel, { model: 'm', messages: [{ role: 'user', content: question }] });
      expect(r.status).toBe(400);
      expect(r.body.error).toEqual({ code: 'provider_rejected', message: "language model refused the request (400): This model's maximum context length is 8192 tokens" });
      model.seen.length = 0;
      const err = await langchain(withModel, 6).invoke(question).catch((e: unknown) => e as { status?: number });
      expect(err).toMatchObject({ status: 400 });
      expect(model.seen).toHaveLength(1);
    } finally {
      model.answer = DEFAULT_ANSWER;
    }
  });

  it('its 429 is a 429 with its Retry-After, streaming too; a stalled model is a 504; each counted by status', async () => {
    model.answer = () => ({ error: { status: 429, message: 'Rate limit reached', headers: { 'retry-after': '7' } } });
    try {
      const r = await completions(withModel, { model: 'm', messages: [{ role: 'user', content: question }] });
      expect(r.status).toBe(429);
      expect(r.headers.get('retry-after')).toBe('7');
      expect(r.body.error.code).toBe('provider_rate_limited');
      const s = await completions(withModel, { model: 'm', messages: [{ role: 'user', content: question }], stream: true });
      expect(s.status).toBe(429);
      expect(s.headers.get('retry-after')).toBe('7');
      model.answer = () => ({ stall: true });
      const slow = await completions(withModel, { model: 'm', messages: [{ role: 'user', content: question }] });
      expect(slow.status).toBe(504);
      expect(slow.body.error.code).toBe('provider_timeout');
    } finally {
      model.answer = DEFAULT_ANSWER;
    }
    const metrics = (await withModel.call('GET', '/metrics', { tenant: null })).body as string;
    expect(metrics).toMatch(/percolate_provider_errors_total\{status="429"\} 2/);
    expect(metrics).toMatch(/percolate_provider_errors_total\{status="timeout"\} 1/);
  });
});

describe('a model failing mid-stream', () => {
  it('ends the started stream with an error event after the text already sent', async () => {
    model.answer = () => ({ brokenStream: 'Radium was' });
    try {
      const s = await completions(withModel, { model: 'm', messages: [{ role: 'user', content: question }], stream: true });
      expect(s.status).toBe(200);
      const events = (s.body as string).split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)));
      expect(events.map((e) => e.choices?.[0]?.delta?.content ?? '').join('')).toBe('Radium was');
      expect(events.at(-1)).toEqual({ error: { message: 'language model stream failed: the model crashed', type: 'provider_error', code: 'provider_error' } });
    } finally {
      model.answer = DEFAULT_ANSWER;
    }
  });
});

describe('LangChain JS (@langchain/openai)', () => {
  it('invoke and stream answer with the model through the node', async () => {
    const llm = langchain(withModel);
    const msg = await llm.invoke(question);
    expect(msg.content).toBe('Radium was discovered in 1898 [1].');
    let streamed = '';
    for await (const chunk of await llm.stream(question)) streamed += typeof chunk.content === 'string' ? chunk.content : '';
    expect(streamed).toBe('Radium was discovered in 1898 [1].');
  });

  it('withStructuredOutput (json schema and function calling) and bindTools get parsed results', async () => {
    const schema = z.object({ element: z.string(), year: z.number() });
    for (const method of ['jsonSchema', 'functionCalling'] as const) {
      const structured = langchain(withModel).withStructuredOutput(schema, { method, name: 'discovery' });
      expect(await structured.invoke(question), method).toEqual({ element: 'radium', year: 1898 });
    }
    const lookup = lcTool(async ({ element }: { element: string }) => `${element}: 1898`, { name: 'lookup_year', description: 'year of a discovery', schema: z.object({ element: z.string() }) });
    const withTools = langchain(withModel).bindTools([lookup]);
    const called = await withTools.invoke(question);
    expect(called.tool_calls).toEqual([expect.objectContaining({ name: 'lookup_year', args: { element: 'radium' }, id: 'call_1' })]);
    // streamed tool call fragments reassemble into the same call
    let merged: Awaited<ReturnType<typeof withTools.invoke>> | undefined;
    for await (const chunk of await withTools.stream(question)) merged = merged ? (merged.concat(chunk) as typeof merged) : chunk;
    expect(merged!.tool_calls).toEqual([expect.objectContaining({ name: 'lookup_year', args: { element: 'radium' } })]);
  });

  it('gets a JSON object from the extractive node (jsonMode)', async () => {
    const structured = langchain(extractive).withStructuredOutput(z.object({ answer: z.string(), citations: z.array(z.object({ n: z.number(), uri: z.string().nullable() })) }), { method: 'jsonMode' });
    const out = await structured.invoke(question);
    expect(out.answer).toMatch(/^Radium was discovered in 1898 by Marie and Pierre Curie\. \[1\]/);
    expect(out.citations[0]).toEqual({ n: 1, uri: 'notes://radium' });
  });
});

describe('Vercel AI SDK (@ai-sdk/openai-compatible)', () => {
  it('generateText and streamText answer with the model through the node', async () => {
    const p = aiSdk(withModel);
    const { text } = await generateText({ model: p('percolate'), prompt: question, maxRetries: 0 });
    expect(text).toBe('Radium was discovered in 1898 [1].');
    const streamed = streamText({ model: p('percolate'), prompt: question, maxRetries: 0 });
    let all = '';
    for await (const piece of streamed.textStream) all += piece;
    expect(all).toBe('Radium was discovered in 1898 [1].');
  });

  it('runs a tool round trip with generateText', async () => {
    const p = aiSdk(withModel);
    const calls: string[] = [];
    const r = await generateText({
      model: p('percolate'),
      prompt: question,
      maxRetries: 0,
      stopWhen: stepCountIs(3),
      tools: {
        lookup_year: aiTool({
          description: 'year of a discovery',
          inputSchema: jsonSchema<{ element: string }>({ type: 'object', properties: { element: { type: 'string' } }, required: ['element'] }),
          execute: async ({ element }) => {
            calls.push(element);
            return '1898';
          },
        }),
      },
    });
    expect(calls).toEqual(['radium']);
    expect(r.text).toBe('The tool said 1898 [1].');
  });

  it('generateObject gets an object from the model, and from the extractive node', async () => {
    const fromModel = await generateObject({ model: createOpenAICompatible({ name: 'percolate', baseURL: `${withModel.url}/v1`, headers: { 'X-Tenant-ID': T }, supportsStructuredOutputs: true })('percolate'), schema: z.object({ element: z.string(), year: z.number() }), prompt: question, maxRetries: 0 });
    expect(fromModel.object).toEqual({ element: 'radium', year: 1898 });
    const fromExtractive = await generateObject({ model: aiSdk(extractive)('percolate'), schema: z.object({ answer: z.string(), citations: z.array(z.object({ n: z.number() })) }), prompt: question, maxRetries: 0 });
    expect(fromExtractive.object.answer).toContain('[1]');
    expect(fromExtractive.object.citations).toEqual([{ n: 1 }]);
  });
});

describe('the extractive answerer', () => {
  it('honours max_tokens (finish_reason length) and stop, and numbers the citations of the streamed final chunk', async () => {
    const whole = await completions(extractive, { model: 'm', messages: [{ role: 'user', content: question }] });
    const cut = await completions(extractive, { model: 'm', messages: [{ role: 'user', content: question }], max_tokens: 3 });
    expect(cut.body.choices[0].finish_reason).toBe('length');
    expect(cut.body.choices[0].message.content.length).toBeLessThanOrEqual(12);
    expect(whole.body.choices[0].message.content.startsWith(cut.body.choices[0].message.content)).toBe(true);
    const stopped = await completions(extractive, { model: 'm', messages: [{ role: 'user', content: question }], stop: 'Curie' });
    expect(stopped.body.choices[0]).toMatchObject({ finish_reason: 'stop', message: { content: 'Radium was discovered in 1898 by Marie and Pierre ' } });

    const s = await completions(extractive, { model: 'm', messages: [{ role: 'user', content: question }], stream: true });
    const events = (s.body as string).split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)));
    const final = events.find((e) => e.choices[0]?.finish_reason);
    expect(final.citations).toEqual([expect.objectContaining({ n: 1, uri: 'notes://radium' })]);
  });

  it('refuses what it cannot do with a 400 naming the field: tools, json_schema, logprobs', async () => {
    const base = { model: 'm', messages: [{ role: 'user', content: question }] };
    const tools = await completions(extractive, { ...base, tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }] });
    expect(tools.status).toBe(400);
    expect(tools.body.error.details).toEqual([{ path: '/tools', message: 'is not supported by the extractive answerer', keyword: 'unsupported' }]);
    const schema = await completions(extractive, { ...base, response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object' } } } });
    expect(schema.status).toBe(400);
    expect(schema.body.error.details[0].path).toBe('/response_format/json_schema');
    const logprobs = await completions(extractive, { ...base, logprobs: true });
    expect(logprobs.status).toBe(400);
    expect(logprobs.body.error.details[0].path).toBe('/logprobs');
    // tools the client says not to use are no obstacle
    const none = await completions(extractive, { ...base, tools: [{ type: 'function', function: { name: 'f' } }], tool_choice: 'none' });
    expect(none.status).toBe(200);
  });

  it('counts chat answers, their tokens and streamed requests in the metrics', async () => {
    await completions(extractive, { model: 'm', messages: [{ role: 'user', content: question }], stream: true });
    const metrics = (await extractive.call('GET', '/metrics', { tenant: null })).body as string;
    expect(metrics).toMatch(/percolate_chat_duration_seconds_count\{provider="extractive",stream="true"\} [1-9]/);
    expect(metrics).toMatch(/percolate_chat_duration_seconds_count\{provider="extractive",stream="false"\} [1-9]/);
    expect(metrics).toMatch(/percolate_chat_tokens_total\{kind="completion"\} [1-9]/);
    expect(metrics).toMatch(/percolate_http_request_duration_seconds_count\{method="POST",route="\/v1\/chat\/completions",status="200"\} [1-9]/);
    expect(metrics).toMatch(/percolate_http_request_duration_seconds_bucket\{le="60",method="POST",route="\/v1\/chat\/completions",status="200"\}/);
  });
});

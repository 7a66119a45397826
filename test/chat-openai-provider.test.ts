// The OpenAI-compatible provider against a small server speaking the OpenAI wire format, started here: requests are
// asserted (path, bearer token, model, whole conversation, numbered context), answers parsed whole and streamed.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../shared/config/config.js';
import { OpenAiCompatibleProvider } from '../shared/chat/providers/openai.js';
import type { ProviderRequest } from '../shared/chat/providers/provider.js';
import { toHttpError } from '../shared/http/errors.js';
import { RemError } from '../shared/rem/errors.js';
import { startNode, type TestNode } from './support/api.js';
import { postEvents } from './support/sse.js';

interface Seen {
  method: string;
  url: string;
  auth: string | undefined;
  body: { model: string; messages: { role: string; content: string }[]; stream: boolean; temperature?: number };
}

/** A fake OpenAI server: answers `reply` (whole or as chunks split across writes); `fail` answers an error. */
class FakeOpenAi {
  seen: Seen[] = [];
  reply = 'Radium was discovered in 1898 [1].';
  fail: { status: number; message: string } | undefined;
  private server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const body = JSON.parse(raw);
      this.seen.push({ method: req.method!, url: req.url!, auth: req.headers.authorization, body });
      if (this.fail) {
        res.writeHead(this.fail.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: this.fail.message, type: 'invalid_request_error' } }));
        return;
      }
      const base = { id: 'chatcmpl-fake', created: 1, model: body.model };
      if (!body.stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ...base, object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: this.reply }, finish_reason: 'stop' }], usage: { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const pieces = this.reply.match(/.{1,5}/gs) ?? [];
      const events = [
        { ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] },
        ...pieces.map((p) => ({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: p }, finish_reason: null }] })),
        { ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] },
      ];
      const text = events.map((e) => `data: ${JSON.stringify(e)}\r\n\r\n`).join('') + ': done\n\ndata: [DONE]\n\n';
      // split the stream at arbitrary points so the client must reassemble events
      let i = 0;
      const tick = () => {
        if (i >= text.length) return void res.end();
        res.write(text.slice(i, i + 37));
        i += 37;
        setImmediate(tick);
      };
      tick();
    });
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }

  close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    return closed;
  }
}

const fake = new FakeOpenAi();
let baseUrl: string;
beforeAll(async () => {
  baseUrl = await fake.start();
});
afterAll(async () => {
  await fake.close();
});

const request: ProviderRequest = {
  messages: [
    { role: 'system', content: 'Context:\n[1] notes://radium\nRadium was discovered in 1898.' },
    { role: 'user', content: 'When was radium discovered?' },
  ],
  items: [],
  question: 'When was radium discovered?',
  earlier: [],
  temperature: 0.1,
};

describe('OpenAiCompatibleProvider', () => {
  const provider = () => {
    const cfg = loadConfig({ PERCOLATE_LLM_BASE_URL: baseUrl, PERCOLATE_LLM_MODEL: 'fake-model', PERCOLATE_LLM_API_KEY: 'sk-test-secret' }).chat.llm!;
    return new OpenAiCompatibleProvider(cfg);
  };

  it('completes: POST /v1/chat/completions with the bearer token, model, messages and options', async () => {
    fake.seen = [];
    const a = await provider().complete(request);
    expect(a).toEqual({ text: 'Radium was discovered in 1898 [1].', finishReason: 'stop', usage: { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 } });
    expect(fake.seen).toEqual([
      { method: 'POST', url: '/v1/chat/completions', auth: 'Bearer sk-test-secret', body: { model: 'fake-model', messages: request.messages, stream: false, temperature: 0.1 } },
    ]);
  });

  it('streams: parses the chunk events, split across writes, up to [DONE]', async () => {
    fake.seen = [];
    const deltas: string[] = [];
    for await (const d of provider().stream(request)) if (d.content) deltas.push(d.content);
    expect(deltas.length).toBeGreaterThan(3);
    expect(deltas.join('')).toBe('Radium was discovered in 1898 [1].');
    expect(fake.seen[0]!.body.stream).toBe(true);
  });

  it('turns server errors into 502 provider_error without the key in the message', async () => {
    fake.fail = { status: 401, message: 'Incorrect API key provided' };
    try {
      const err = await provider().complete(request).then(
        () => undefined,
        (e: unknown) => e,
      );
      // a domain error from the engine; the HTTP edge maps it to 502
      expect(err).toBeInstanceOf(RemError);
      expect(err).toMatchObject({ code: 'provider_error', message: 'language model answered 401: Incorrect API key provided' });
      expect(toHttpError(err)).toMatchObject({ statusCode: 502, code: 'provider_error' });
      expect((err as Error).message).not.toContain('sk-test-secret');
    } finally {
      fake.fail = undefined;
    }
    const down = new OpenAiCompatibleProvider({ baseUrl: 'http://127.0.0.1:9/v1', model: 'm', timeoutMs: 2000 });
    await expect(down.complete(request)).rejects.toMatchObject({ code: 'provider_unavailable' });
  });

  it('keeps the API key out of serialized configuration', () => {
    const cfg = loadConfig({ PERCOLATE_LLM_BASE_URL: baseUrl, PERCOLATE_LLM_MODEL: 'fake-model', PERCOLATE_LLM_API_KEY: 'sk-test-secret' });
    expect(cfg.chat.llm!.apiKey).toBe('sk-test-secret');
    expect(JSON.stringify(cfg)).not.toContain('sk-test-secret');
    expect(() => loadConfig({ PERCOLATE_LLM_BASE_URL: baseUrl })).toThrow(/PERCOLATE_LLM_MODEL is required/);
    expect(() => loadConfig({ PERCOLATE_LLM_BASE_URL: 'ftp://x' })).toThrow(/http\(s\) URL/);
  });
});

describe('a node configured with PERCOLATE_LLM_* answers chat through the provider', () => {
  let node: TestNode;
  const T = 'llm';
  beforeAll(async () => {
    node = await startNode({ PERCOLATE_LLM_BASE_URL: baseUrl, PERCOLATE_LLM_MODEL: 'fake-model', PERCOLATE_LLM_API_KEY: 'sk-node-secret' });
    await node.call('POST', '/api/v1/resources', {
      tenant: T,
      body: { resources: [{ uri: 'notes://radium', content: 'Radium was discovered in 1898 by Marie and Pierre Curie.' }, { uri: 'notes://other', content: 'Bread is baked in ovens.' }] },
    });
  });
  afterAll(async () => {
    await node.close();
  });

  const messages = [
    { role: 'user', content: 'Tell me about the Curies.' },
    { role: 'assistant', content: 'They were physicists.' },
    { role: 'user', content: 'When was radium discovered?' },
  ];

  it('sends the numbered context and the whole conversation; cites what the answer marks', async () => {
    fake.seen = [];
    const r = await node.call('POST', '/api/v1/chat', { tenant: T, body: { messages } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ answer: 'Radium was discovered in 1898 [1].', provider: 'openai-compatible', model: 'fake-model' });
    expect(r.body.citations).toEqual([{ n: 1, kind: 'resources', id: expect.any(String), uri: 'notes://radium', snippet: 'Radium was discovered in 1898 by Marie and Pierre Curie.' }]);
    const sent = fake.seen[0]!;
    expect(sent.auth).toBe('Bearer sk-node-secret');
    expect(sent.body.model).toBe('fake-model');
    expect(sent.body.messages.slice(1)).toEqual(messages);
    expect(sent.body.messages[0]!.role).toBe('system');
    expect(sent.body.messages[0]!.content).toContain('[1] notes://radium\nRadium was discovered in 1898 by Marie and Pierre Curie.');
  });

  it('streams the provider deltas as SSE and ends with the citations', async () => {
    const { events } = await postEvents(`${node.url}/api/v1/chat`, T, { messages, stream: true });
    const text = events.filter((e) => e.event === 'delta').map((e) => JSON.parse(e.data).content).join('');
    expect(text).toBe('Radium was discovered in 1898 [1].');
    const done = JSON.parse(events.at(-1)!.data);
    expect(events.at(-1)!.event).toBe('done');
    expect(done.citations[0]).toMatchObject({ uri: 'notes://radium' });
  });

  it('reports a failing provider as 502, streaming too: the status is sent before any event', async () => {
    fake.fail = { status: 500, message: 'model overloaded' };
    try {
      const r = await node.call('POST', '/api/v1/chat', { tenant: T, body: { messages } });
      expect(r.status).toBe(502);
      expect(r.body.error).toEqual({ code: 'provider_error', message: 'language model answered 500: model overloaded' });
      // the provider failed before its first delta: the stream never opened, so the answer keeps its status
      const s = await node.call('POST', '/api/v1/chat', { tenant: T, body: { messages, stream: true } });
      expect(s.status).toBe(502);
      expect(s.body.error).toEqual({ code: 'provider_error', message: 'language model answered 500: model overloaded' });
    } finally {
      fake.fail = undefined;
    }
  });
});

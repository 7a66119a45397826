// Chat over the tenant's memory: the native POST /api/v1/chat and the OpenAI-compatible POST /v1/chat/completions
// (plus GET /v1/models), both answering with retrieval, a provider and citations, as JSON or Server-Sent Events.
// With an X-Session-Id header each exchange is stored as a `conversation` moment.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { approxTokens } from '../../../shared/chat/budget.js';
import { checkSessionId, citationsFor, prepareChat, recordExchange, type PreparedChat } from '../../../shared/chat/chat.js';
import { createProvider } from '../../../shared/chat/providers/index.js';
import type { LlmProvider, ProviderAnswer } from '../../../shared/chat/providers/provider.js';
import { formatSse } from '../../../shared/chat/sse.js';
import type { ChatMessage, Citation } from '../../../shared/chat/types.js';
import { scopeCovers } from '../../../shared/http/auth.js';
import { errorBody, HttpError, toHttpError } from '../../../shared/http/errors.js';
import { invalid } from '../../../shared/rem/errors.js';
import { elapsedMs, withStore, type ApiContext, type RouteOptions } from '../context.js';

const LIMIT_MAX = 50;
const MESSAGES_MAX = 200;

interface Exchange {
  prepared: PreparedChat;
  sessionId: string | undefined;
}

interface Answered {
  answer: string;
  citations: Citation[];
  usage: NonNullable<ProviderAnswer['usage']>;
  momentId?: string;
}

function usageOf(prepared: PreparedChat, answer: string, reported?: ProviderAnswer['usage']): Answered['usage'] {
  if (reported) return reported;
  const prompt = prepared.request.messages.reduce((n, m) => n + approxTokens(m.content), 0);
  const completion = approxTokens(answer);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/** Retrieval and prompt for the conversation (reads the tenant; 404 when it does not exist). */
async function prepare(ctx: ApiContext, req: FastifyRequest, messages: ChatMessage[], limit: number): Promise<Exchange> {
  const sessionId = checkSessionId(req.headers['x-session-id']);
  if (sessionId && !scopeCovers(req.auth.scope, 'rw')) {
    throw new HttpError(403, 'scope_forbidden', 'recording a chat session (X-Session-Id) writes a moment: it needs scope rw');
  }
  const prepared = await withStore(ctx, req, false, (store) => prepareChat(store, messages, ctx.cfg.chat, { limit }));
  return { prepared, sessionId };
}

async function finish(ctx: ApiContext, req: FastifyRequest, ex: Exchange, answer: string, reported?: ProviderAnswer['usage']): Promise<Answered> {
  const citations = citationsFor(answer, ex.prepared.items);
  const out: Answered = { answer, citations, usage: usageOf(ex.prepared, answer, reported) };
  if (ex.sessionId) {
    const sid = ex.sessionId;
    out.momentId = await withStore(ctx, req, false, (store) => recordExchange(store, sid, ex.prepared.retrieval.question, answer, citations));
  }
  return out;
}

/** Takes over the response for Server-Sent Events; `closed` aborts when the client goes away. */
function openSse(req: FastifyRequest, reply: FastifyReply): { send: (data: string, event?: string) => void; end: () => void; signal: AbortSignal } {
  const abort = new AbortController();
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    ...(req.id ? { 'x-request-id': String(req.id) } : {}),
  });
  res.on('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  return {
    send: (data, event) => {
      if (!res.writableEnded) res.write(formatSse(data, event));
    },
    end: () => {
      if (!res.writableEnded) res.end();
    },
    signal: abort.signal,
  };
}

/** Streams the provider's answer through `emit`, returning the whole text. */
async function streamAnswer(provider: LlmProvider, ex: Exchange, signal: AbortSignal, emit: (delta: string) => void): Promise<string> {
  let text = '';
  for await (const delta of provider.stream(ex.prepared.request, signal)) {
    if (signal.aborted) break;
    text += delta;
    emit(delta);
  }
  return text;
}

const nativeMessage = {
  type: 'object',
  required: ['role', 'content'],
  additionalProperties: false,
  properties: { role: { type: 'string', enum: ['system', 'user', 'assistant'] }, content: { type: 'string', maxLength: 100_000 } },
} as const;

export default async function chatRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const provider = createProvider(ctx.cfg.chat.llm);
  app.post(
    '/chat',
    {
      // answering reads the tenant; recording a session (X-Session-Id) writes, and needs rw (see prepare)
      config: { scope: 'ro' },
      schema: {
        summary: 'Answer from the tenant memory with citations (JSON, or Server-Sent Events with stream: true)',
        headers: { type: 'object', properties: { 'x-session-id': { type: 'string', maxLength: 128 } } },
        body: {
          type: 'object',
          required: ['messages'],
          additionalProperties: false,
          properties: {
            messages: { type: 'array', minItems: 1, maxItems: MESSAGES_MAX, items: nativeMessage },
            stream: { type: 'boolean', default: false },
            limit: { type: 'integer', minimum: 1, maximum: LIMIT_MAX, default: 8 },
          },
        },
      },
    },
    async (req, reply) => {
      const b = req.body as { messages: ChatMessage[]; stream: boolean; limit: number };
      const started = process.hrtime.bigint();
      const ex = await prepare(ctx, req, b.messages, b.limit);
      const meta = { provider: provider.name, model: provider.model };
      if (!b.stream) {
        const a = await provider.complete(ex.prepared.request);
        const done = await finish(ctx, req, ex, a.text, a.usage);
        return { answer: done.answer, citations: done.citations, ...meta, ...(done.momentId ? { moment_id: done.momentId } : {}), took_ms: elapsedMs(started) };
      }
      const sse = openSse(req, reply);
      try {
        const text = await streamAnswer(provider, ex, sse.signal, (delta) => sse.send(JSON.stringify({ content: delta }), 'delta'));
        const done = await finish(ctx, req, ex, text);
        sse.send(JSON.stringify({ answer: done.answer, citations: done.citations, ...meta, ...(done.momentId ? { moment_id: done.momentId } : {}), took_ms: elapsedMs(started) }), 'done');
      } catch (err) {
        const h = toHttpError(err);
        if (h.statusCode >= 500) req.log.error({ err }, 'chat stream failed');
        sse.send(JSON.stringify(errorBody(h.code, h.message)), 'error');
      } finally {
        sse.end();
      }
      return reply;
    },
  );
}

type OpenAiContent = string | null | { type: string; text?: string }[];

function contentText(c: OpenAiContent | undefined): string {
  if (c === null || c === undefined) return '';
  if (typeof c === 'string') return c;
  return c.map((p) => (p.type === 'text' && typeof p.text === 'string' ? p.text : '')).join('');
}

const openAiMessage = {
  type: 'object',
  required: ['role'],
  additionalProperties: false,
  properties: {
    role: { type: 'string', enum: ['system', 'developer', 'user', 'assistant', 'tool'] },
    content: {
      anyOf: [
        { type: 'string', maxLength: 100_000 },
        { type: 'null' },
        { type: 'array', maxItems: 100, items: { type: 'object', required: ['type'], properties: { type: { type: 'string' }, text: { type: 'string', maxLength: 100_000 } } } },
      ],
    },
    name: { type: 'string', maxLength: 256 },
    tool_call_id: { type: 'string', maxLength: 256 },
    tool_calls: { type: 'array', maxItems: 100 },
    refusal: { type: ['string', 'null'] },
  },
} as const;

/** OpenAI-compatible routes (registered under /v1 with the same tenant check as /api/v1). */
export async function openAiChatRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const provider = createProvider(ctx.cfg.chat.llm);
  const number = { type: 'number' } as const;

  app.get('/models', { schema: { summary: 'Models this node answers with (OpenAI-compatible)' } }, async () => ({
    object: 'list',
    data: [{ id: provider.model, object: 'model', created: 0, owned_by: 'percolate' }],
  }));

  app.post(
    '/chat/completions',
    {
      config: { scope: 'ro' },
      schema: {
        summary: 'OpenAI-compatible chat completion over the tenant memory (stream: true for chat.completion.chunk events)',
        body: {
          type: 'object',
          required: ['model', 'messages'],
          additionalProperties: false,
          properties: {
            model: { type: 'string', minLength: 1, maxLength: 256 },
            messages: { type: 'array', minItems: 1, maxItems: MESSAGES_MAX, items: openAiMessage },
            stream: { type: 'boolean', default: false },
            stream_options: { type: 'object', additionalProperties: false, properties: { include_usage: { type: 'boolean' } } },
            temperature: { type: 'number', minimum: 0, maximum: 2 },
            top_p: number,
            max_tokens: { type: 'integer', minimum: 1 },
            max_completion_tokens: { type: 'integer', minimum: 1 },
            n: { type: 'integer', minimum: 1, maximum: 1 },
            stop: { anyOf: [{ type: 'string' }, { type: 'array', maxItems: 4, items: { type: 'string' } }, { type: 'null' }] },
            presence_penalty: number,
            frequency_penalty: number,
            seed: { type: 'integer' },
            user: { type: 'string', maxLength: 256 },
            metadata: { type: 'object' },
            store: { type: 'boolean' },
          },
        },
      },
    },
    async (req, reply) => {
      const b = req.body as {
        model: string;
        messages: { role: ChatMessage['role']; content?: OpenAiContent }[];
        stream: boolean;
        stream_options?: { include_usage?: boolean };
        temperature?: number;
        max_tokens?: number;
        max_completion_tokens?: number;
      };
      const messages: ChatMessage[] = b.messages.map((m) => ({ role: m.role, content: contentText(m.content) }));
      if (!messages.some((m) => m.role === 'user' && m.content.trim())) throw invalid('messages must contain a non-empty user message');
      const ex = await prepare(ctx, req, messages, 8);
      if (b.temperature !== undefined) ex.prepared.request.temperature = b.temperature;
      const maxTokens = b.max_completion_tokens ?? b.max_tokens;
      if (maxTokens !== undefined) ex.prepared.request.maxTokens = maxTokens;
      const id = `chatcmpl-${randomUUID().replace(/-/g, '')}`;
      const created = Math.floor(Date.now() / 1000);
      const base = { id, created, model: b.model, system_fingerprint: null };

      if (!b.stream) {
        const a = await provider.complete(ex.prepared.request);
        const done = await finish(ctx, req, ex, a.text, a.usage);
        return {
          ...base,
          object: 'chat.completion',
          choices: [{ index: 0, message: { role: 'assistant', content: done.answer, refusal: null }, logprobs: null, finish_reason: 'stop' }],
          usage: done.usage,
          citations: done.citations,
        };
      }
      const sse = openSse(req, reply);
      const chunk = (delta: Record<string, unknown>, finishReason: string | null) =>
        sse.send(JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }] }));
      try {
        chunk({ role: 'assistant', content: '' }, null);
        const text = await streamAnswer(provider, ex, sse.signal, (delta) => chunk({ content: delta }, null));
        const done = await finish(ctx, req, ex, text);
        sse.send(JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }], citations: done.citations }));
        if (b.stream_options?.include_usage) sse.send(JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [], usage: done.usage }));
        sse.send('[DONE]');
      } catch (err) {
        const h = toHttpError(err);
        if (h.statusCode >= 500) req.log.error({ err }, 'chat completion stream failed');
        sse.send(JSON.stringify({ error: { message: h.message, type: h.code, code: h.code } }));
      } finally {
        sse.end();
      }
      return reply;
    },
  );
}

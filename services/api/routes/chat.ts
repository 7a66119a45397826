// Chat over the tenant's memory: the native POST /api/v1/chat and the OpenAI-compatible POST /v1/chat/completions
// (plus GET /v1/models), both answering with retrieval, a provider and citations, as JSON or Server-Sent Events.
// With an X-Session-Id header each exchange is stored as a `conversation` moment.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { approxTokens } from '../../../shared/chat/budget.js';
import { checkSessionId, citationsFor, prepareChat, recordExchange, type PreparedChat } from '../../../shared/chat/chat.js';
import { createProvider } from '../../../shared/chat/providers/index.js';
import type { LlmProvider, ProviderAnswer, ProviderDelta } from '../../../shared/chat/providers/provider.js';
import { formatSse } from '../../../shared/chat/sse.js';
import type { ChatMessage, Citation } from '../../../shared/chat/types.js';
import { scopeCovers } from '../../../shared/http/auth.js';
import { errorBody, HttpError, toHttpError } from '../../../shared/http/errors.js';
import { invalid } from '../../../shared/rem/errors.js';
import { elapsedMs, typed, withStore, type ApiContext, type RouteOptions } from '../context.js';
import * as R from '../responses.js';
import { chatBody, completionBody, sessionHeader, type CompletionBody } from '../schemas.js';

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
  // a turn that only called tools has no answer to remember
  if (ex.sessionId && answer) {
    const sid = ex.sessionId;
    out.momentId = await withStore(ctx, req, false, (store) => recordExchange(store, sid, ex.prepared.retrieval.question, answer, citations));
  }
  return out;
}

/** Chat's metrics of one answer: its duration by provider and mode, and its tokens. */
function observeChat(ctx: ApiContext, provider: LlmProvider, stream: boolean, startedNs: bigint, usage: Answered['usage']): void {
  ctx.metrics.chat.duration.observe({ provider: provider.name, stream: String(stream) }, elapsedMs(startedNs) / 1000);
  ctx.metrics.chat.tokens.inc({ kind: 'prompt' }, usage.prompt_tokens);
  ctx.metrics.chat.tokens.inc({ kind: 'completion' }, usage.completion_tokens);
}

interface Sse {
  send: (data: string, event?: string) => void;
  end: () => void;
}

/**
 * Takes over the response for Server-Sent Events; `abort` fires when the client goes away. A hijacked reply skips
 * fastify's onSend and onResponse hooks, so the headers every answer has and the request's duration metric are
 * written here.
 */
function openSse(ctx: ApiContext, req: FastifyRequest, reply: FastifyReply, abort: AbortController): Sse {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    ...(req.id ? { 'x-request-id': String(req.id) } : {}),
    'x-served-by': ctx.cfg.nodeId,
    ...(ctx.cfg.zone ? { 'x-served-zone': ctx.cfg.zone } : {}),
  });
  res.on('close', () => {
    if (!res.writableFinished) abort.abort();
    ctx.metrics.httpDuration.observe({ method: req.method, route: req.routeOptions.url ?? 'unmatched', status: '200' }, reply.elapsedTime / 1000);
  });
  return {
    send: (data, event) => {
      if (!res.writableEnded) res.write(formatSse(data, event));
    },
    end: () => {
      if (!res.writableEnded) res.end();
    },
  };
}

/**
 * Starts the provider's stream and waits for its first delta before the response is committed: a model that refuses
 * the request (400), is rate limited (429 with Retry-After) or is down still answers with that status, not with a
 * 200 whose first event is an error.
 */
async function startStream(provider: LlmProvider, ex: Exchange, signal: AbortSignal): Promise<AsyncIterator<ProviderDelta> & { first: IteratorResult<ProviderDelta> }> {
  const it = provider.stream(ex.prepared.request, signal)[Symbol.asyncIterator]();
  const first = await it.next();
  return Object.assign(it, { first });
}

/** Every delta of a started stream (the first included) until its end or the client's. */
async function* deltas(it: AsyncIterator<ProviderDelta> & { first: IteratorResult<ProviderDelta> }, signal: AbortSignal): AsyncIterable<ProviderDelta> {
  for (let r = it.first; !r.done; r = await it.next()) {
    if (signal.aborted) {
      await it.return?.();
      return;
    }
    yield r.value;
  }
}

export default async function chatRoutes(scope: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const app = typed(scope);
  const provider = createProvider(ctx.cfg.chat.llm, { upstreamError: (status) => ctx.metrics.chat.providerErrors.inc({ status }) });
  app.post(
    '/chat',
    {
      // answering reads the tenant; recording a session (X-Session-Id) writes, and needs rw (see prepare)
      config: { scope: 'ro' },
      schema: {
        summary: 'Answer from the tenant memory with citations (JSON, or Server-Sent Events with stream: true)',
        response: { 200: R.chatAnswer },
        headers: sessionHeader,
        body: chatBody,
      },
    },
    async (req, reply) => {
      const b = req.body;
      const started = process.hrtime.bigint();
      const ex = await prepare(ctx, req, b.messages, b.limit);
      const meta = { provider: provider.name, model: provider.model };
      if (!b.stream) {
        const a = await provider.complete(ex.prepared.request);
        const done = await finish(ctx, req, ex, a.text, a.usage);
        observeChat(ctx, provider, false, started, done.usage);
        return { answer: done.answer, citations: done.citations, ...meta, ...(done.momentId ? { moment_id: done.momentId } : {}), took_ms: elapsedMs(started) };
      }
      const abort = new AbortController();
      const it = await startStream(provider, ex, abort.signal);
      const sse = openSse(ctx, req, reply, abort);
      try {
        let text = '';
        for await (const d of deltas(it, abort.signal)) {
          if (!d.content) continue;
          text += d.content;
          sse.send(JSON.stringify({ content: d.content }), 'delta');
        }
        const done = await finish(ctx, req, ex, text);
        observeChat(ctx, provider, true, started, done.usage);
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

/**
 * The request fields of OpenAI's chat completions (2026) besides model, messages and stream, each passed to an
 * upstream model as the client gave it. `stream_options` and `n` are ours to honour; `logprobs` and audio output
 * are refused (no answer of ours carries them).
 */
const PASS_THROUGH = [
  'frequency_penalty',
  'presence_penalty',
  'logit_bias',
  'max_completion_tokens',
  'max_tokens',
  'metadata',
  'parallel_tool_calls',
  'prediction',
  'prompt_cache_key',
  'reasoning_effort',
  'response_format',
  'safety_identifier',
  'seed',
  'service_tier',
  'store',
  'temperature',
  'tool_choice',
  'tools',
  'top_p',
  'user',
  'verbosity',
  'web_search_options',
  'functions',
  'function_call',
] as const;

/** The conversation as the answerer takes it: text content, tool calls and results kept for a model. */
function chatMessages(b: CompletionBody): ChatMessage[] {
  return b.messages.map((m) => {
    const out: ChatMessage = { role: m.role === 'function' ? 'tool' : m.role, content: contentText(m.content) };
    if (m.name !== undefined) out.name = m.name;
    if (m.tool_calls !== undefined) out.tool_calls = m.tool_calls;
    if (m.tool_call_id !== undefined) out.tool_call_id = m.tool_call_id;
    return out;
  });
}

/** Fields no answer of ours can carry: refused with a 400 that names them, whatever the provider. */
function refuseUnanswerable(b: CompletionBody): void {
  if (b.logprobs) throw invalid('logprobs is not supported: answers carry no token log probabilities', [{ path: '/logprobs', message: 'is not supported', keyword: 'unsupported' }]);
  if (b.audio !== undefined || b.modalities?.includes('audio')) {
    throw invalid('audio output is not supported: answers are text', [{ path: b.audio !== undefined ? '/audio' : '/modalities', message: 'is not supported', keyword: 'unsupported' }]);
  }
}

/** OpenAI-compatible routes (registered under /v1 with the same tenant check as /api/v1). */
export async function openAiChatRoutes(scope: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const app = typed(scope);
  const provider = createProvider(ctx.cfg.chat.llm, { upstreamError: (status) => ctx.metrics.chat.providerErrors.inc({ status }) });

  app.get('/models', { schema: { summary: 'Models this node answers with (OpenAI-compatible)', response: { 200: R.modelList } } }, async () => ({
    object: 'list' as const,
    data: [{ id: provider.model, object: 'model' as const, created: 0, owned_by: 'percolate' }],
  }));

  app.post(
    '/chat/completions',
    {
      config: { scope: 'ro' },
      schema: {
        summary: 'OpenAI-compatible chat completion over the tenant memory (stream: true for chat.completion.chunk events)',
        response: { 200: R.chatCompletion },
        body: completionBody,
      },
    },
    async (req, reply) => {
      const b = req.body;
      const started = process.hrtime.bigint();
      refuseUnanswerable(b);
      const messages = chatMessages(b);
      if (!messages.some((m) => m.role === 'user' && m.content.trim())) throw invalid('messages must contain a non-empty user message');
      const options: Record<string, unknown> = {};
      for (const f of PASS_THROUGH) if (b[f] !== undefined) options[f] = b[f];
      const ex = await prepare(ctx, req, messages, 8);
      const request = ex.prepared.request;
      request.options = options;
      if (b.temperature !== undefined) request.temperature = b.temperature;
      const maxTokens = b.max_completion_tokens ?? b.max_tokens;
      if (maxTokens !== undefined) request.maxTokens = maxTokens;
      if (b.stop !== undefined && b.stop !== null) request.stop = typeof b.stop === 'string' ? [b.stop] : b.stop;
      const refused = provider.unsupported(request);
      if (refused) {
        throw invalid(`${refused} needs a language model: this node answers extractively (configure PERCOLATE_LLM_BASE_URL)`, [
          { path: `/${refused.replace(/\./g, '/')}`, message: 'is not supported by the extractive answerer', keyword: 'unsupported' },
        ]);
      }
      // the extractive answerer has no model to ask for JSON: it answers the object itself
      const jsonWrap = provider.name === 'extractive' && b.response_format?.type === 'json_object';
      const content = (done: Answered) => (jsonWrap ? JSON.stringify({ answer: done.answer, citations: done.citations }) : done.answer);
      const id = `chatcmpl-${randomUUID().replace(/-/g, '')}`;
      const created = Math.floor(Date.now() / 1000);
      const base = { id, created, model: b.model, system_fingerprint: null };

      if (!b.stream) {
        const a = await provider.complete(request);
        const done = await finish(ctx, req, ex, a.text, a.usage);
        observeChat(ctx, provider, false, started, done.usage);
        const onlyTools = a.toolCalls !== undefined && a.text === '';
        const message = { role: 'assistant' as const, content: onlyTools ? null : content(done), refusal: null, ...(a.toolCalls ? { tool_calls: a.toolCalls } : {}) };
        return {
          ...base,
          object: 'chat.completion' as const,
          choices: [{ index: 0, message, logprobs: null, finish_reason: a.finishReason ?? (a.toolCalls ? 'tool_calls' : 'stop') }],
          usage: done.usage,
          citations: done.citations,
        };
      }
      const abort = new AbortController();
      const it = await startStream(provider, ex, abort.signal);
      const sse = openSse(ctx, req, reply, abort);
      const chunk = (delta: Record<string, unknown>, finishReason: string | null, extra: Record<string, unknown> = {}) =>
        sse.send(JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }], ...extra }));
      try {
        chunk({ role: 'assistant', content: '' }, null);
        let text = '';
        let finishReason: string | undefined;
        for await (const d of deltas(it, abort.signal)) {
          if (d.content) {
            text += d.content;
            if (!jsonWrap) chunk({ content: d.content }, null);
          }
          if (d.toolCalls) chunk({ tool_calls: d.toolCalls }, null);
          if (d.finishReason) finishReason = d.finishReason;
        }
        const done = await finish(ctx, req, ex, text);
        observeChat(ctx, provider, true, started, done.usage);
        if (jsonWrap) for (const piece of content(done).match(/[\s\S]{1,64}/g) ?? []) chunk({ content: piece }, null);
        chunk({}, finishReason ?? 'stop', { citations: done.citations });
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

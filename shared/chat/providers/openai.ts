// OpenAI-compatible provider over fetch: POST {base}/chat/completions with the model, the messages, `stream` and the
// client's own request fields (tools, response_format, ...) passed through; streamed answers are Server-Sent Events
// of `chat.completion.chunk` objects ending with `data: [DONE]`. Works with OpenAI, vLLM, llama.cpp's server,
// Ollama's /v1 and any other server speaking that wire format. The API key goes only into the Authorization header;
// errors name the status and the server's message, never the key.
//
// The model's errors keep their meaning for our client: its 400/413/422 (context length exceeded, a bad tool schema)
// are the client's request refused (400 provider_rejected), its 429 is a rate limit to wait out (429 with its
// Retry-After: answering 502 made LangChain's default retries send one bad request 7 times), its 408/504 and our own
// timeout are 504, anything else (5xx, 401/403/404 from our configuration) is 502.
import type { LlmConfig } from '../../config/query-config.js';
import { RemError } from '../../rem/errors.js';
import { parseSse } from '../sse.js';
import type { ChatMessage } from '../types.js';
import type { FinishReason, LlmProvider, ProviderAnswer, ProviderDelta, ProviderObserver, ProviderRequest } from './provider.js';

const ERROR_CHARS_MAX = 300;
/** Longest Retry-After passed on: a model asking for more is treated as "try much later", not obeyed for hours. */
const RETRY_AFTER_S_MAX = 3600;

/** Seconds from `retry-after-ms`, `retry-after` (seconds or an HTTP date), 1 when absent or unreadable. */
export function retryAfterSeconds(headers: Headers, nowMs = Date.now()): number {
  const ms = Number(headers.get('retry-after-ms'));
  if (Number.isFinite(ms) && ms > 0) return Math.min(RETRY_AFTER_S_MAX, Math.ceil(ms / 1000));
  const raw = headers.get('retry-after');
  if (raw) {
    const s = Number(raw);
    if (Number.isFinite(s) && s >= 0) return Math.min(RETRY_AFTER_S_MAX, Math.max(1, Math.ceil(s)));
    const at = Date.parse(raw);
    if (Number.isFinite(at)) return Math.min(RETRY_AFTER_S_MAX, Math.max(1, Math.ceil((at - nowMs) / 1000)));
  }
  return 1;
}

function upstreamError(status: number, headers: Headers, message: string): RemError {
  const text = message.slice(0, ERROR_CHARS_MAX);
  if (status === 429) return new RemError('provider_rate_limited', `language model is rate limited (429): ${text}`, { retry_after_s: retryAfterSeconds(headers) });
  if (status === 400 || status === 413 || status === 422) return new RemError('provider_rejected', `language model refused the request (${status}): ${text}`);
  if (status === 408 || status === 504) return new RemError('provider_timeout', `language model timed out (${status}): ${text}`);
  return new RemError('provider_error', `language model answered ${status}: ${text}`);
}

/** A message as the wire format has it: an assistant turn that only called tools has `content: null`. */
function wireMessage(m: ChatMessage): Record<string, unknown> {
  const out: Record<string, unknown> = { role: m.role, content: m.tool_calls?.length && !m.content ? null : m.content };
  if (m.name !== undefined) out.name = m.name;
  if (m.tool_calls !== undefined) out.tool_calls = m.tool_calls;
  if (m.tool_call_id !== undefined) out.tool_call_id = m.tool_call_id;
  return out;
}

export class OpenAiCompatibleProvider implements LlmProvider {
  readonly name = 'openai-compatible';
  readonly model: string;

  constructor(
    private readonly cfg: LlmConfig,
    private readonly fetchImpl: typeof fetch = fetch,
    private readonly observer: ProviderObserver = {},
  ) {
    this.model = cfg.model;
  }

  /** The model takes every field the route accepts. */
  unsupported(): string | undefined {
    return undefined;
  }

  private async post(req: ProviderRequest, stream: boolean, signal?: AbortSignal): Promise<Response> {
    // the client's fields first: model, messages and stream are ours
    const body: Record<string, unknown> = { ...req.options, model: this.cfg.model, messages: req.messages.map(wireMessage), stream };
    if (req.temperature !== undefined) body.temperature = req.temperature;
    if (req.maxTokens !== undefined && body.max_completion_tokens === undefined) body.max_tokens = req.maxTokens;
    if (req.stop !== undefined) body.stop = req.stop;
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: stream ? 'text/event-stream' : 'application/json' };
    if (this.cfg.apiKey) headers.authorization = `Bearer ${this.cfg.apiKey}`;
    const timeout = AbortSignal.timeout(this.cfg.timeoutMs);
    let res: Response;
    try {
      res = await this.fetchImpl(`${this.cfg.baseUrl}/chat/completions`, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (err) {
      if (timeout.aborted) {
        this.observer.upstreamError?.('timeout');
        throw new RemError('provider_timeout', `language model at ${this.cfg.baseUrl} did not answer within ${this.cfg.timeoutMs} ms`);
      }
      this.observer.upstreamError?.('unreachable');
      throw new RemError('provider_unavailable', `language model at ${this.cfg.baseUrl} unreachable: ${(err as Error).message}`);
    }
    if (!res.ok) {
      this.observer.upstreamError?.(String(res.status));
      const text = await res.text().catch(() => '');
      let message = text;
      try {
        message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text;
      } catch {
        /* not JSON */
      }
      throw upstreamError(res.status, res.headers, message);
    }
    return res;
  }

  async complete(req: ProviderRequest, signal?: AbortSignal): Promise<ProviderAnswer> {
    const res = await this.post(req, false, signal);
    const json = (await res.json().catch(() => undefined)) as
      | { choices?: { message?: { content?: string | null; tool_calls?: unknown[] }; finish_reason?: FinishReason | null }[]; usage?: ProviderAnswer['usage'] }
      | undefined;
    const choice = json?.choices?.[0];
    const text = choice?.message?.content;
    const toolCalls = choice?.message?.tool_calls;
    if (typeof text !== 'string' && !(Array.isArray(toolCalls) && toolCalls.length > 0)) {
      throw new RemError('provider_error', 'language model answer has neither choices[0].message.content nor tool_calls');
    }
    const out: ProviderAnswer = { text: typeof text === 'string' ? text : '' };
    if (Array.isArray(toolCalls) && toolCalls.length > 0) out.toolCalls = toolCalls;
    if (choice?.finish_reason) out.finishReason = choice.finish_reason;
    if (json?.usage) out.usage = json.usage;
    return out;
  }

  async *stream(req: ProviderRequest, signal?: AbortSignal): AsyncIterable<ProviderDelta> {
    const res = await this.post(req, true, signal);
    if (!res.body) throw new RemError('provider_error', 'language model sent no body');
    for await (const ev of parseSse(res.body as unknown as AsyncIterable<Uint8Array>)) {
      if (ev.data === '[DONE]') return;
      let chunk: { choices?: { delta?: { content?: string | null; tool_calls?: unknown[] }; finish_reason?: FinishReason | null }[]; error?: { message?: string } };
      try {
        chunk = JSON.parse(ev.data);
      } catch {
        throw new RemError('provider_error', 'language model sent a stream event that is not JSON');
      }
      if (chunk.error) throw new RemError('provider_error', `language model stream failed: ${(chunk.error.message ?? '').slice(0, ERROR_CHARS_MAX)}`);
      const choice = chunk.choices?.[0];
      const d: ProviderDelta = {};
      const content = choice?.delta?.content;
      if (typeof content === 'string' && content.length > 0) d.content = content;
      if (Array.isArray(choice?.delta?.tool_calls) && choice.delta.tool_calls.length > 0) d.toolCalls = choice.delta.tool_calls;
      if (choice?.finish_reason) d.finishReason = choice.finish_reason;
      if (d.content !== undefined || d.toolCalls !== undefined || d.finishReason !== undefined) yield d;
    }
  }
}

// The answerer behind chat: an OpenAI-compatible language model, or (with none configured) the offline extractive
// answerer. Both get the prompt messages (system prompt with numbered context, then the conversation) and the context
// items themselves, and cite context as [n] markers in their text.
import type { ChatMessage, ContextItem } from '../types.js';

/**
 * Fields of an OpenAI chat-completions request that the client chose and the model should see as given
 * (`response_format`, `tools`, `tool_choice`, `top_p`, `seed`, ...): validated by the route's schema, passed through
 * by the OpenAI-compatible provider, honoured where possible by the extractive one (see `unsupported`).
 */
export type UpstreamOptions = Record<string, unknown>;

export interface ProviderRequest {
  /** System prompt with the numbered context, then the conversation (within its budget). */
  messages: ChatMessage[];
  /** The numbered context: items[0] is [1]. */
  items: ContextItem[];
  /** The last user message. */
  question: string;
  /** Earlier user turns (newest last). */
  earlier: string[];
  temperature?: number;
  /** Completion tokens at most (the client's max_completion_tokens or max_tokens). */
  maxTokens?: number;
  /** The answer ends before the first of these. */
  stop?: string[];
  options?: UpstreamOptions;
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'function_call';

export interface ProviderAnswer {
  text: string;
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  /** Tool calls the model asked for (OpenAI wire format). */
  toolCalls?: unknown[];
  finishReason?: FinishReason;
}

/** One piece of a streamed answer: text, tool-call fragments (as the model sent them), or the end's reason. */
export interface ProviderDelta {
  content?: string;
  toolCalls?: unknown[];
  finishReason?: FinishReason;
}

/** Counts the model's failures by status (`429`, `500`, `timeout`, `unreachable`) for the metrics. */
export interface ProviderObserver {
  upstreamError?(status: string): void;
}

export interface LlmProvider {
  /** `extractive` or `openai-compatible`. */
  readonly name: string;
  /** The model id reported in responses. */
  readonly model: string;
  /** The first request field this answerer cannot honour (`tools`, `response_format.json_schema`), if any. */
  unsupported(req: ProviderRequest): string | undefined;
  complete(req: ProviderRequest, signal?: AbortSignal): Promise<ProviderAnswer>;
  /** The answer as deltas. */
  stream(req: ProviderRequest, signal?: AbortSignal): AsyncIterable<ProviderDelta>;
}

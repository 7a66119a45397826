// Chat over one tenant's memory: retrieval (retrieval.ts), the context budget (budget.ts), the prompt with numbered
// context, the answer from a provider (providers/), citations from the answer's [n] markers, and, with a session
// id, the exchange stored as a `conversation` moment so that memory grows from use.
import type { ChatConfig } from '../config/query-config.js';
import { invalid } from '../rem/errors.js';
import { putMoments } from '../store/moments.js';
import type { TenantStore } from '../store/tenant-store.js';
import { fitContext, fitHistory, shorten } from './budget.js';
import type { ProviderRequest } from './providers/provider.js';
import { retrieve, type Retrieval } from './retrieval.js';
import type { ChatMessage, ChatOptions, Citation, ContextItem } from './types.js';

const SNIPPET_CHARS = 240;
const SESSION_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export const SYSTEM_PROMPT =
  'You are Percolate, an assistant that answers from the user\'s memory (documents, entities and events). ' +
  'Answer using only the numbered context below and cite every statement with the number of its source in brackets, like [1]. ' +
  'If the context does not contain the answer, say that you do not know.';

export interface PreparedChat {
  retrieval: Retrieval;
  /** The items the answerer sees, numbered from [1]. */
  items: ContextItem[];
  request: ProviderRequest;
}

export function checkSessionId(v: string | string[] | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !SESSION_ID.test(v)) throw invalid('X-Session-Id must be 1-128 characters of letters, digits, . _ : -');
  return v;
}

export function contextBlock(items: readonly ContextItem[]): string {
  return items.map((it, i) => `[${i + 1}] ${it.title}\n${it.text}`).join('\n\n');
}

/** Retrieves context for the conversation and builds the provider request within the configured budgets. */
export async function prepareChat(store: TenantStore, messages: readonly ChatMessage[], cfg: ChatConfig, opts: ChatOptions): Promise<PreparedChat> {
  if (!messages.some((m) => m.role === 'user' && m.content.trim().length > 0)) throw invalid('messages must contain a non-empty user message');
  const retrieval = await retrieve(store, messages, opts);
  const items = fitContext(retrieval.items, cfg.contextTokens);
  const system = `${SYSTEM_PROMPT}\n\nContext:\n${items.length ? contextBlock(items) : '(nothing relevant was found)'}`;
  const history = fitHistory(messages, cfg.historyTokens);
  return {
    retrieval,
    items,
    request: { messages: [{ role: 'system', content: system }, ...history], items, question: retrieval.question, earlier: retrieval.earlier },
  };
}

/** Citations for the [n] markers of an answer, in order of first mention; without markers, none. */
export function citationsFor(answer: string, items: readonly ContextItem[]): Citation[] {
  const order: number[] = [];
  for (const m of answer.matchAll(/\[(\d{1,3})(?:\s*,\s*(\d{1,3}))*\]/g)) {
    for (const n of m[0].slice(1, -1).split(',').map((x) => Number(x.trim()))) {
      if (n >= 1 && n <= items.length && !order.includes(n)) order.push(n);
    }
  }
  return order.map((n) => {
    const it = items[n - 1]!;
    return { n, kind: it.kind, id: it.id, uri: it.uri, snippet: snippetFor(answer, it) };
  });
}

/** The sentence of the item that the answer quotes, or the item's opening. */
function snippetFor(answer: string, it: ContextItem): string {
  const quoted = it.text.split(/(?<=[.!?])\s+|\n+/).find((s) => s.length >= 12 && answer.includes(s.replace(/[.!?]$/, '')));
  return shorten(quoted ?? it.text, SNIPPET_CHARS);
}

/** Stores one exchange as a `conversation` moment of the session; returns the moment id. */
export async function recordExchange(store: TenantStore, sessionId: string, question: string, answer: string, citations: readonly Citation[]): Promise<string> {
  const now = new Date();
  const max = store.limits.contentCharsMax;
  const [id] = await putMoments(store, [
    {
      id: `conversation:${sessionId}:${now.toISOString()}:${Math.random().toString(36).slice(2, 10)}`,
      name: `Conversation ${sessionId}`,
      // the [n] markers refer to this exchange's context numbering: meaningless later, so they are not kept
      summary: shorten(`Q: ${question}\nA: ${answer.replace(/\s*\[\d{1,3}(?:\s*,\s*\d{1,3})*\]/g, '')}`, max),
      moment_type: 'conversation',
      start_time: now.toISOString(),
      tags: ['conversation'],
      resource_ids: citations.filter((c) => c.kind === 'resources').map((c) => c.id),
      entity_ids: citations.filter((c) => c.kind === 'entities').map((c) => c.id),
      metadata: { session_id: sessionId, cited: citations.map((c) => c.id) },
    },
  ]);
  return id!;
}

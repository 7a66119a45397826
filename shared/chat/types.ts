// Shapes shared by chat retrieval, the context budget, the providers and the HTTP routes.
import type { RemKind } from '../rem/types.js';

export type ChatRole = 'system' | 'developer' | 'user' | 'assistant' | 'tool';

export interface ChatMessage {
  role: ChatRole;
  content: string;
  /** OpenAI's participant name. */
  name?: string;
  /** An assistant turn that called tools (OpenAI wire format, passed to the model as given). */
  tool_calls?: unknown[];
  /** A tool turn: the call it answers. */
  tool_call_id?: string;
}

/** One retrieved piece of context, numbered [1], [2], ... in the prompt and in answers. */
export interface ContextItem {
  kind: RemKind;
  id: string;
  /** Resources: their uri; entities and moments: null. */
  uri: string | null;
  /** Short label: resource name or uri, entity `type/name`, moment date and name. */
  title: string;
  /** The text the answerer sees (may be shortened by the context budget). */
  text: string;
  /** Why it was retrieved; `conversation`: an earlier chat exchange (memory of use, not a primary source). */
  source: 'search' | 'entity' | 'neighbor' | 'time_window' | 'conversation';
}

export interface Citation {
  /** The answer's marker: `[2]` cites the citation with `n: 2`. */
  n: number;
  kind: RemKind;
  id: string;
  uri: string | null;
  snippet: string;
}

export interface ChatOptions {
  /** Most context items retrieved. */
  limit: number;
  /** Reference time for "yesterday", "last week" (defaults to now). */
  now?: Date;
}

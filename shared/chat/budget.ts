// Context budget: tokens are approximated as characters / 4 (close enough for English and BPE tokenizers, and the
// same on every node). Context items are kept in rank order until the budget is spent, the last one shortened at a
// word boundary; conversation history keeps the newest turns (and every system message) within its own budget.
import type { ChatMessage, ContextItem } from './types.js';

export const approxTokens = (text: string): number => Math.ceil(text.length / 4);

/** Shortens `text` to about `maxChars` at a word boundary, marking the cut with an ellipsis. */
export function shorten(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const cut = text.slice(0, Math.max(0, maxChars - 1));
  const space = cut.lastIndexOf(' ');
  return (space > maxChars * 0.6 ? cut.slice(0, space) : cut).trimEnd() + '…';
}

/** Items in rank order within `budgetTokens` (the item that crosses the budget is shortened; tiny remainders dropped). */
export function fitContext(items: readonly ContextItem[], budgetTokens: number): ContextItem[] {
  const out: ContextItem[] = [];
  let left = budgetTokens;
  for (const item of items) {
    // the label line ("[n] title") costs tokens too
    const overhead = approxTokens(item.title) + 4;
    const cost = overhead + approxTokens(item.text);
    if (cost <= left) {
      out.push(item);
      left -= cost;
      continue;
    }
    const room = (left - overhead) * 4;
    if (room >= 80) out.push({ ...item, text: shorten(item.text, room) });
    break;
  }
  return out;
}

/** A turn's tokens: its text and the tool calls it carries. */
const turnTokens = (m: ChatMessage): number => approxTokens(m.content) + (m.tool_calls ? approxTokens(JSON.stringify(m.tool_calls)) : 0);

/** The ids of the tool calls an assistant turn made (OpenAI wire format: `[{id, type, function}]`). */
function callIds(m: ChatMessage): string[] {
  return (m.tool_calls ?? []).map((c) => (c as { id?: unknown }).id).filter((id): id is string => typeof id === 'string');
}

/**
 * The conversation within `budgetTokens`: system messages always, then as many of the newest turns as fit. A tool
 * result whose call was cut off is dropped with it (a model refuses a `tool` turn that follows no tool call).
 */
export function fitHistory(messages: readonly ChatMessage[], budgetTokens: number): ChatMessage[] {
  const kept = fitTurns(messages, budgetTokens);
  const calls = new Set(kept.flatMap(callIds));
  return kept.filter((m) => m.role !== 'tool' || m.tool_call_id === undefined || calls.has(m.tool_call_id));
}

function fitTurns(messages: readonly ChatMessage[], budgetTokens: number): ChatMessage[] {
  const system = messages.filter((m) => m.role === 'system' || m.role === 'developer');
  let left = budgetTokens - system.reduce((n, m) => n + approxTokens(m.content), 0);
  const keep = new Set<ChatMessage>(system);
  const turns = messages.filter((m) => !keep.has(m));
  for (let i = turns.length - 1; i >= 0; i--) {
    const m = turns[i]!;
    const cost = turnTokens(m);
    // the newest turn (the question) is always kept, shortened if it alone exceeds the budget
    if (i === turns.length - 1 && cost > left) {
      keep.add({ ...m, content: shorten(m.content, Math.max(left, 64) * 4) });
      break;
    }
    if (cost > left) break;
    keep.add(m);
    left -= cost;
  }
  const kept = messages.filter((m) => keep.has(m));
  // a shortened newest turn was added as a copy: append it in place of the original
  for (const m of keep) if (!messages.includes(m)) kept.push(m);
  return kept;
}

// Offline extractive answerer: no model, deterministic. Splits the context into sentences, scores each against the
// question's terms (BM25 over the sentences, earlier user turns counting a third as much, a small bonus for better
// ranked context), and answers with the best few sentences, each followed by the [n] of the item it came from.
import { terms, words } from '../../rem/text.js';
import type { FinishReason, LlmProvider, ProviderAnswer, ProviderDelta, ProviderRequest } from './provider.js';

const K1 = 1.2;
const B = 0.75;
const SENTENCES_MAX = 3;
const ANSWER_CHARS_MAX = 800;
const EARLIER_WEIGHT = 0.3;
/** A question with one of these refers back ("which ship was named after her?"): the previous turn names the subject. */
const PRONOUNS = new Set(['he', 'she', 'it', 'they', 'him', 'her', 'them', 'his', 'hers', 'its', 'their', 'theirs', 'this', 'that', 'these', 'those', 'there']);
export const NO_ANSWER = 'I could not find anything about that in this memory.';

interface Sentence {
  item: number;
  /** From an earlier chat exchange: memory of use, ranked below primary sources. */
  echo: boolean;
  /** From a moment inside a time window the question named: relevant by its time, whatever its words. */
  timely: boolean;
  text: string;
  tf: Map<string, number>;
  length: number;
}

export function splitSentences(text: string): string[] {
  return text
    .split(/(?<=[.!?])\s+(?=[\p{Lu}\p{N}"'(\[])|\n+/u)
    .map((s) => s.trim())
    .filter((s) => s.length >= 3);
}

/** The chosen sentences with the context item each came from (0-based), best first. */
export function extract(req: Pick<ProviderRequest, 'items' | 'question' | 'earlier'>): { item: number; text: string }[] {
  const weights = new Map<string, number>();
  for (const t of req.earlier.flatMap(terms)) weights.set(t, EARLIER_WEIGHT);
  // the previous turn's terms stand in for a pronoun of the question (a simple form of coreference)
  const refersBack = words(req.question).some((w) => PRONOUNS.has(w));
  if (refersBack && req.earlier.length > 0) for (const t of terms(req.earlier[req.earlier.length - 1]!)) weights.set(t, 1);
  for (const t of terms(req.question)) weights.set(t, 1);
  if (weights.size === 0 && !req.items.some((i) => i.source === 'time_window')) return [];
  const sentences: Sentence[] = [];
  req.items.forEach((it, item) => {
    for (const text of splitSentences(it.text)) {
      // questions answer nothing (earlier exchanges hold the user's questions too)
      if (text.endsWith('?')) continue;
      const ts = terms(text);
      const tf = new Map<string, number>();
      for (const t of ts) tf.set(t, (tf.get(t) ?? 0) + 1);
      sentences.push({ item, echo: it.source === 'conversation', timely: it.source === 'time_window', text, tf, length: ts.length });
    }
  });
  if (sentences.length === 0) return [];
  const df = new Map<string, number>();
  for (const s of sentences) for (const t of s.tf.keys()) if (weights.has(t)) df.set(t, (df.get(t) ?? 0) + 1);
  const avg = sentences.reduce((n, s) => n + s.length, 0) / sentences.length || 1;
  const n = sentences.length;
  const scored = sentences.map((s) => {
    let score = 0;
    let questionHits = 0;
    for (const [t, w] of weights) {
      const f = s.tf.get(t);
      if (!f) continue;
      const d = df.get(t)!;
      const idf = Math.log(1 + (n - d + 0.5) / (d + 0.5));
      score += w * idf * ((f * (K1 + 1)) / (f + K1 * (1 - B + (B * s.length) / avg)));
      if (w === 1) questionHits++;
    }
    // a sentence must share a term with the question itself (earlier turns only refine the ranking), unless it
    // comes from the time window the question asks about
    if (questionHits === 0 && !s.timely) score = 0;
    if (s.timely) score += 1;
    if (s.echo) score *= 0.5;
    return { s, score: score > 0 ? score + 0.05 / (1 + s.item) : 0 };
  });
  scored.sort((a, b) => b.score - a.score || a.s.item - b.s.item);
  const best = scored[0];
  if (!best || best.score <= 0) return [];
  const out: { item: number; text: string }[] = [];
  const seen = new Set<string>();
  let chars = 0;
  for (const { s, score } of scored) {
    if (out.length >= SENTENCES_MAX || score < best.score * 0.5) break;
    const key = s.text.toLowerCase();
    if (seen.has(key) || (out.length > 0 && chars + s.text.length > ANSWER_CHARS_MAX)) continue;
    seen.add(key);
    chars += s.text.length;
    out.push({ item: s.item, text: s.text });
  }
  return out;
}

export function extractiveAnswer(req: Pick<ProviderRequest, 'items' | 'question' | 'earlier'>): string {
  const picked = extract(req);
  if (picked.length === 0) return NO_ANSWER;
  return picked.map((p) => `${/[.!?…]$/.test(p.text) ? p.text : p.text + '.'} [${p.item + 1}]`).join(' ');
}

/** Tokens counted as the context budget counts them (characters / 4). */
const CHARS_PER_TOKEN = 4;

/**
 * The answer within the client's `stop` sequences and `max_tokens`: cut before the first stop sequence (finish
 * reason stop), or at the last word boundary within the token budget (finish reason length), as a model would end.
 */
export function limitAnswer(text: string, req: Pick<ProviderRequest, 'stop' | 'maxTokens'>): { text: string; finishReason: FinishReason } {
  let out = text;
  for (const s of req.stop ?? []) {
    const at = s ? out.indexOf(s) : -1;
    if (at >= 0) out = out.slice(0, at);
  }
  if (req.maxTokens !== undefined && out.length > req.maxTokens * CHARS_PER_TOKEN) {
    const cut = out.slice(0, req.maxTokens * CHARS_PER_TOKEN);
    const space = cut.lastIndexOf(' ');
    return { text: (space > 0 ? cut.slice(0, space) : cut).trimEnd(), finishReason: 'length' };
  }
  return { text: out, finishReason: 'stop' };
}

export class ExtractiveProvider implements LlmProvider {
  readonly name = 'extractive';
  readonly model = 'percolate-extractive';

  /** No model: it cannot call tools, follow a JSON schema or search the web. */
  unsupported(req: ProviderRequest): string | undefined {
    const o = req.options ?? {};
    if (Array.isArray(o.tools) && o.tools.length > 0 && o.tool_choice !== 'none') return 'tools';
    if (Array.isArray(o.functions) && o.functions.length > 0 && o.function_call !== 'none') return 'functions';
    if ((o.response_format as { type?: string } | undefined)?.type === 'json_schema') return 'response_format.json_schema';
    if (o.web_search_options !== undefined) return 'web_search_options';
    return undefined;
  }

  async complete(req: ProviderRequest): Promise<ProviderAnswer> {
    const { text, finishReason } = limitAnswer(extractiveAnswer(req), req);
    return { text, finishReason };
  }

  async *stream(req: ProviderRequest): AsyncIterable<ProviderDelta> {
    // the answer is known at once; stream it word by word so clients see the same shape as from a model
    const { text, finishReason } = limitAnswer(extractiveAnswer(req), req);
    for (const m of text.matchAll(/\S+\s*/g)) yield { content: m[0] };
    yield { finishReason };
  }
}

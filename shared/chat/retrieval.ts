// Chat retrieval over one tenant, using the whole conversation:
//   - hybrid search over resources and moments with the question, and again with the earlier user turns plus the
//     question (so a follow-up like "and where does she live?" keeps its subject), fused by reciprocal rank;
//   - entities named in the question (or earlier turns): exact key/name lookup of its 1-3 word phrases, fuzzy match of
//     its capitalised words, each with its neighbours;
//   - moments inside any time window the question names ("yesterday", "last week", "in March 2024", ISO dates).
// Items come back ranked and deduplicated; the context budget (budget.ts) decides how many reach the answerer.
import { search, type SearchHit } from '../search/search.js';
import { reciprocalRankFusion } from '../index/fusion.js';
import { terms, words } from '../rem/text.js';
import type { Entity, Moment, RemRecord, Resource } from '../rem/types.js';
import { fuzzyEntities, lookupEntities, neighbors } from '../store/entities.js';
import { listMoments } from '../store/moments.js';
import type { TenantStore } from '../store/tenant-store.js';
import { shorten } from './budget.js';
import { parseTimeWindows, type TimeWindow } from './time-window.js';
import type { ChatMessage, ChatOptions, ContextItem } from './types.js';

const ITEM_CHARS_MAX = 4000;
const PHRASES_MAX = 60;
const FUZZY_MAX = 3;
const WINDOWS_MAX = 3;
const HISTORY_TURNS = 3;
/** Capitalised words that open questions and requests rather than name things. */
const QUESTION_WORDS = new Set(['how', 'does', 'did', 'do', 'is', 'are', 'was', 'were', 'can', 'could', 'tell', 'show', 'list', 'give', 'find', 'please', 'summarize', 'summarise', 'explain', 'describe']);

export interface Retrieval {
  question: string;
  /** Earlier user turns used for retrieval (newest last). */
  earlier: string[];
  items: ContextItem[];
  windows: TimeWindow[];
  entities: { id: string; type: string; name: string; match: 'exact' | 'fuzzy' }[];
}

export function userTurns(messages: readonly ChatMessage[]): { question: string; earlier: string[] } {
  const users = messages.filter((m) => m.role === 'user').map((m) => m.content);
  return { question: users[users.length - 1] ?? '', earlier: users.slice(0, -1).slice(-HISTORY_TURNS) };
}

function scalarText(v: unknown): string | undefined {
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v) && v.every((x) => typeof x === 'string' || typeof x === 'number')) return v.join(', ');
  return undefined;
}

export function resourceItem(r: Resource): ContextItem {
  return { kind: 'resources', id: r.id, uri: r.uri, title: r.name || r.uri, text: shorten(r.content, ITEM_CHARS_MAX), source: 'search' };
}

export function momentItem(m: Moment, source: ContextItem['source']): ContextItem {
  const day = m.start_time.slice(0, 10);
  const extra = [m.people.length ? `People: ${m.people.join(', ')}.` : '', m.tags.length ? `Tags: ${m.tags.join(', ')}.` : ''].filter(Boolean).join(' ');
  const head = m.name ? `On ${day}, ${m.name}: ` : `On ${day}: `;
  const from = m.moment_type === 'conversation' ? 'conversation' : source;
  return { kind: 'moments', id: m.id, uri: null, title: `${day} ${m.name || m.moment_type}`, text: shorten(`${head}${m.summary}${extra ? ' ' + extra : ''}`, ITEM_CHARS_MAX), source: from };
}

/** `worked_at` -> `worked at`: relation names read as words (and match the question's words). */
const relWords = (rel: string) => rel.replace(/[_-]+/g, ' ').trim();

/** An entity as sentences that each name it: what it is, its properties, and one sentence per relation. */
export function entityItem(e: Entity, names: ReadonlyMap<string, Entity>, source: ContextItem['source']): ContextItem {
  const parts = [`${e.name} is a ${e.type}.`];
  if (e.aliases.length) parts.push(`${e.name} is also known as ${e.aliases.join(', ')}.`);
  const props = Object.entries(e.properties)
    .map(([k, v]) => [k, scalarText(v)] as const)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${relWords(k)} ${v}`);
  if (props.length) parts.push(`${e.name}: ${props.join('; ')}.`);
  for (const x of e.edges.slice(0, 20)) {
    const t = names.get(x.to);
    parts.push(`${e.name} ${relWords(x.rel)} ${t ? `${t.name} (${t.type})` : x.to}.`);
  }
  const incoming = [...names.values()].flatMap((n) => n.edges.filter((x) => x.to === e.id).map((x) => `${n.name} (${n.type}) ${relWords(x.rel)} ${e.name}.`));
  parts.push(...incoming.slice(0, 20));
  return { kind: 'entities', id: e.id, uri: null, title: `${e.type}/${e.name}`, text: shorten(parts.join('\n'), ITEM_CHARS_MAX), source };
}

function hitItem(h: SearchHit<RemRecord>): ContextItem {
  return h.kind === 'resources' ? resourceItem(h.record as Resource) : momentItem(h.record as Moment, 'search');
}

/** 1-3 word phrases of the text, longest first, without phrases made only of stopwords. */
function phrases(text: string): string[] {
  const ws = words(text);
  const out = new Set<string>();
  for (let n = 3; n >= 1; n--) {
    for (let i = 0; i + n <= ws.length; i++) {
      const p = ws.slice(i, i + n);
      if (terms(p.join(' ')).length === 0) continue;
      out.add(p.join(' '));
    }
  }
  return [...out].slice(0, PHRASES_MAX);
}

/** Capitalised words and quoted strings: what a user writes when naming something (typos included). */
function namedTerms(text: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(/["“']([^"”']{3,64})["”']/g)) out.add(m[1]!);
  for (const m of text.matchAll(/(?<![\p{L}\p{N}])\p{Lu}[\p{L}\p{N}'-]{2,}(?:\s+\p{Lu}[\p{L}\p{N}'-]+){0,2}/gu)) {
    const w = m[0];
    const first = w.split(/\s+/)[0]!.toLowerCase();
    if (QUESTION_WORDS.has(first) || terms(first).length === 0) continue;
    out.add(w);
  }
  return [...out];
}

async function namedEntities(store: TenantStore, texts: readonly string[], max: number): Promise<Retrieval['entities']> {
  const found = new Map<string, Retrieval['entities'][number]>();
  const covered = new Set<string>();
  for (const text of texts) {
    for (const p of phrases(text)) {
      if (found.size >= max) break;
      // a shorter phrase inside an already matched one ("curie" in "marie curie") adds nothing
      if ([...covered].some((c) => c.includes(p))) continue;
      const hits = await lookupEntities(store, p, undefined, 3);
      if (hits.length > 0) covered.add(p);
      for (const e of hits) if (!found.has(e.id) && found.size < max) found.set(e.id, { id: e.id, type: e.type, name: e.name, match: 'exact' });
    }
    let fuzzy = 0;
    for (const name of namedTerms(text)) {
      if (found.size >= max || fuzzy >= FUZZY_MAX) break;
      if ([...covered].some((c) => c.includes(name.toLowerCase()))) continue;
      fuzzy++;
      const { hits } = await fuzzyEntities(store, name, { limit: 2, threshold: 0.6 });
      for (const h of hits) {
        if (h.score < 0.45 || found.has(h.entity.id) || found.size >= max) continue;
        found.set(h.entity.id, { id: h.entity.id, type: h.entity.type, name: h.entity.name, match: 'fuzzy' });
      }
    }
  }
  return [...found.values()];
}

export async function retrieve(store: TenantStore, messages: readonly ChatMessage[], opts: ChatOptions): Promise<Retrieval> {
  const { question, earlier } = userTurns(messages);
  const limit = opts.limit;
  const now = opts.now ?? new Date();
  const kinds = ['resources', 'moments'] as const;
  const hasText = terms(question).length > 0 || words(question).length > 0;

  // search: the question, and the conversation so far (fused; the question's own ranking breaks ties)
  const lists: SearchHit[][] = [];
  if (hasText) lists.push(await search(store, { query: question, kinds, mode: 'hybrid', limit }));
  if (earlier.length > 0) lists.push(await search(store, { query: [...earlier, question].join('\n'), kinds, mode: 'hybrid', limit }));
  const byKey = new Map<string, SearchHit>();
  for (const h of lists.flat()) byKey.set(`${h.kind}:${h.id}`, h);
  const fused = reciprocalRankFusion(lists.map((l) => l.map((h) => ({ id: `${h.kind}:${h.id}` }))));
  const searchItems = fused.slice(0, limit).map((f) => hitItem(byKey.get(f.id)!));

  // entities named in the question first, then in earlier turns, with their neighbourhoods
  const entityMax = Math.max(1, Math.floor(limit / 4));
  const entities = await namedEntities(store, [question, ...earlier.slice().reverse()], entityMax);
  const entityItems: ContextItem[] = [];
  const neighborItems: ContextItem[] = [];
  for (const m of entities) {
    // an entity deleted since it was found has no neighbourhood: say so, and answer from the rest
    const n = await neighbors(store, m.id, { depth: 1, direction: 'both', nodesMax: 12 }).catch((err: unknown) => {
      store.observer.warn({ tenant: store.tenant, entity: m.id, err: String(err) }, 'chat retrieval skipped an entity whose neighbourhood could not be read');
      return undefined;
    });
    if (!n) continue;
    const names = new Map(n.nodes.map((x) => [x.id, x as Entity]));
    const self = names.get(m.id);
    if (!self) continue;
    entityItems.push(entityItem(self, names, 'entity'));
    for (const x of n.nodes) if (x.id !== m.id) neighborItems.push(entityItem(x, names, 'neighbor'));
  }

  // moments inside the time windows the question names (or, for a follow-up, the earlier turns name)
  let windows = parseTimeWindows(question, now);
  if (windows.length === 0) for (const t of earlier.slice().reverse()) if (windows.length === 0) windows = parseTimeWindows(t, now);
  windows = windows.slice(0, WINDOWS_MAX);
  const windowItems: ContextItem[] = [];
  const windowMax = Math.max(1, Math.floor(limit / 2));
  for (const w of windows) {
    const filters = { from: new Date(w.fromMs).toISOString(), to: new Date(w.toMs).toISOString() };
    const ranked = hasText ? await search(store, { query: question, kinds: ['moments'], mode: 'hybrid', limit: windowMax, filters }) : [];
    const recent = await listMoments(store, { fromMs: w.fromMs, toMs: w.toMs, limit: windowMax, scanMax: 10_000 });
    for (const m of [...ranked.map((h) => h.record as Moment), ...recent.items]) windowItems.push(momentItem(m, 'time_window'));
  }

  const items: ContextItem[] = [];
  const seen = new Set<string>();
  const take = (list: readonly ContextItem[], max: number) => {
    let n = 0;
    for (const it of list) {
      const key = `${it.kind}:${it.id}`;
      if (n >= max || seen.has(key)) continue;
      seen.add(key);
      items.push(it);
      n++;
    }
  };
  take(entityItems, entityMax);
  take(windowItems, windowMax);
  take(searchItems, limit);
  take(neighborItems, Math.max(1, Math.floor(limit / 4)));
  return { question, earlier, items: items.slice(0, limit), windows, entities };
}

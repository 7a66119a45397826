// Text normalisation and tokenisation shared by the keyword index, the offline embedder and key lookup.
import type { TimeSlice } from './time-slice.js';

const STOPWORDS = new Set(
  ('a an and are as at be but by for from has have he her his i if in into is it its of on or our she so than that the their ' +
    'them then there these they this to was we were what when where which who will with you your').split(' '),
);

/** Case- and space-insensitive form of a natural key: lowercased, trimmed, inner whitespace collapsed. */
export function normalizeKey(key: string): string {
  return key.normalize('NFKC').toLowerCase().trim().replace(/\s+/g, ' ');
}

const WORD = /[\p{L}\p{N}][\p{L}\p{N}_'-]*/gu;

/** The word a match of WORD yields (trailing apostrophes and hyphens dropped), or undefined when it yields none. */
function wordOf(match: string): string | undefined {
  const w = match.replace(/['-]+$/, '');
  return w.length > 0 && w.length <= 64 ? w : undefined;
}

/** Lowercased word tokens (letters and digits, inner apostrophes/hyphens kept), NFKC-normalised. */
export function words(text: string): string[] {
  const out: string[] = [];
  for (const m of text.normalize('NFKC').toLowerCase().matchAll(WORD)) {
    const w = wordOf(m[0]);
    if (w !== undefined) out.push(w);
  }
  return out;
}

/** Texts longer than this are worth splitting in time slices (wordsSliced): shorter ones take under 2 ms. */
export const SLICED_TEXT_CHARS = 16_384;

/** Words between two looks at the clock in the sliced tokenisers (a few hundred microseconds of matching). */
const WORDS_PER_CHECK = 1024;

/**
 * words() of a text of any length, giving the event loop a turn whenever `slice` is used up. A text of a million
 * characters (PERCOLATE_CONTENT_CHARS_MAX) takes 70-100 ms to split, and the terms or features made of its words as
 * much again: one record must not stall every tenant's requests that long. The same matches in the same order as
 * words(): the text is normalised and lowercased whole (a few milliseconds), only the matching pauses, so no cut can
 * fall inside a word, a combining sequence or a lowercasing context.
 */
export async function wordsSliced(text: string, slice: TimeSlice): Promise<string[]> {
  const out: string[] = [];
  let n = 0;
  for (const m of text.normalize('NFKC').toLowerCase().matchAll(WORD)) {
    const w = wordOf(m[0]);
    if (w !== undefined) out.push(w);
    if (++n % WORDS_PER_CHECK === 0 && slice.due()) await slice.pause();
  }
  return out;
}

/** Keyword-index terms: words without stopwords, with a light English suffix stemmer. */
export function terms(text: string): string[] {
  return termsOf(words(text));
}

/** The terms of ws[from..to), appended to `out`. */
function termsOf(ws: readonly string[], out: string[] = [], from = 0, to = ws.length): string[] {
  for (let i = from; i < to; i++) {
    const w = ws[i]!;
    if (STOPWORDS.has(w)) continue;
    out.push(stem(w));
  }
  return out;
}

/** terms() of a text of any length, giving the event loop a turn whenever `slice` is used up (see wordsSliced). */
export async function termsSliced(text: string, slice: TimeSlice): Promise<string[]> {
  const ws = await wordsSliced(text, slice);
  const out: string[] = [];
  for (let i = 0; i < ws.length; i += WORDS_PER_CHECK) {
    termsOf(ws, out, i, Math.min(ws.length, i + WORDS_PER_CHECK));
    if (slice.due()) await slice.pause();
  }
  return out;
}

/** A deliberately small suffix stripper (plural and common verb endings) so `indexes`/`index`, `running`/`run` meet. */
export function stem(w: string): string {
  if (w.length <= 3 || /\d/.test(w)) return w;
  if (w.endsWith("'s")) w = w.slice(0, -2);
  if (w.endsWith('ies') && w.length > 4) return w.slice(0, -3) + 'y';
  if (w.endsWith('sses')) return w.slice(0, -2);
  if (w.endsWith('xes') || w.endsWith('ches') || w.endsWith('shes')) return w.slice(0, -2);
  if (w.endsWith('s') && !w.endsWith('ss') && !w.endsWith('us') && !w.endsWith('is')) w = w.slice(0, -1);
  if (w.endsWith('ing') && w.length > 5) {
    w = w.slice(0, -3);
    if (/([^aeiouslz])\1$/.test(w)) w = w.slice(0, -1);
    return w;
  }
  if (w.endsWith('ed') && w.length > 4) {
    w = w.slice(0, -2);
    if (/([^aeiouslz])\1$/.test(w)) w = w.slice(0, -1);
    return w;
  }
  return w;
}

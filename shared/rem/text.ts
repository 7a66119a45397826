// Text normalisation and tokenisation shared by the keyword index, the offline embedder and key lookup.

const STOPWORDS = new Set(
  ('a an and are as at be but by for from has have he her his i if in into is it its of on or our she so than that the their ' +
    'them then there these they this to was we were what when where which who will with you your').split(' '),
);

/** Case- and space-insensitive form of a natural key: lowercased, trimmed, inner whitespace collapsed. */
export function normalizeKey(key: string): string {
  return key.normalize('NFKC').toLowerCase().trim().replace(/\s+/g, ' ');
}

const WORD = /[\p{L}\p{N}][\p{L}\p{N}_'-]*/gu;

/** Lowercased word tokens (letters and digits, inner apostrophes/hyphens kept), NFKC-normalised. */
export function words(text: string): string[] {
  const out: string[] = [];
  for (const m of text.normalize('NFKC').toLowerCase().matchAll(WORD)) {
    const w = m[0].replace(/['-]+$/, '');
    if (w.length > 0 && w.length <= 64) out.push(w);
  }
  return out;
}

/** Keyword-index terms: words without stopwords, with a light English suffix stemmer. */
export function terms(text: string): string[] {
  const out: string[] = [];
  for (const w of words(text)) {
    if (STOPWORDS.has(w)) continue;
    out.push(stem(w));
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

// Splits a document's text into chunks of at most `chunkChars` characters that follow its structure: paragraphs are
// kept whole when they fit, longer ones are cut at sentence ends, and only a sentence longer than a chunk is cut at a
// word boundary. Consecutive chunks share up to `overlapChars` characters of whole sentences or paragraphs, so a
// passage cut by a boundary is still found whole in one of them. Offsets point into the original text.

export interface Chunk {
  text: string;
  /** [start, end) in the original text. */
  start: number;
  end: number;
}

export interface ChunkOptions {
  chunkChars: number;
  overlapChars: number;
}

interface Span {
  start: number;
  end: number;
}

const PARAGRAPH_BREAK = /\n[ \t\r]*\n\s*|\f\s*/g;
const SENTENCE_END = /[.!?\u2026]+["'\u201d\u2019)\]]*\s+/g;

/** Narrows [start, end) to exclude surrounding whitespace; empty spans come back with start === end. */
function trimSpan(text: string, start: number, end: number): Span {
  while (start < end && /\s/.test(text[start]!)) start++;
  while (end > start && /\s/.test(text[end - 1]!)) end--;
  return { start, end };
}

function splitBy(text: string, span: Span, re: RegExp, keepSeparator: boolean): Span[] {
  const out: Span[] = [];
  const part = text.slice(span.start, span.end);
  let from = 0;
  re.lastIndex = 0;
  for (let m = re.exec(part); m !== null; m = re.exec(part)) {
    const cut = keepSeparator ? m.index + m[0].length : m.index;
    const s = trimSpan(text, span.start + from, span.start + cut);
    if (s.end > s.start) out.push(s);
    from = m.index + m[0].length;
  }
  const last = trimSpan(text, span.start + from, span.end);
  if (last.end > last.start) out.push(last);
  return out;
}

/** Cuts a span longer than `size` at the last whitespace inside each window (hard cut when a word is longer). */
function splitWords(text: string, span: Span, size: number): Span[] {
  const out: Span[] = [];
  let start = span.start;
  while (span.end - start > size) {
    let cut = start + size;
    while (cut > start && !/\s/.test(text[cut]!)) cut--;
    if (cut === start) cut = start + size;
    const s = trimSpan(text, start, cut);
    if (s.end > s.start) out.push(s);
    start = trimSpan(text, cut, span.end).start;
  }
  const last = trimSpan(text, start, span.end);
  if (last.end > last.start) out.push(last);
  return out;
}

/** The smallest pieces chunks are made of: paragraphs that fit, else sentences that fit, else word-cut pieces. */
function units(text: string, size: number): Span[] {
  const out: Span[] = [];
  for (const para of splitBy(text, { start: 0, end: text.length }, PARAGRAPH_BREAK, false)) {
    if (para.end - para.start <= size) {
      out.push(para);
      continue;
    }
    for (const sentence of splitBy(text, para, SENTENCE_END, true)) {
      if (sentence.end - sentence.start <= size) out.push(sentence);
      else out.push(...splitWords(text, sentence, size));
    }
  }
  return out;
}

function clean(s: string): string {
  return s
    .replace(/[ \t\r\f\v\u00a0]+/g, ' ')
    .replace(/ ?\n ?/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

export function chunkText(text: string, opts: ChunkOptions): Chunk[] {
  const size = opts.chunkChars;
  if (!(size > 0) || opts.overlapChars < 0 || opts.overlapChars >= size) throw new Error('chunk size must be > 0 and overlap in [0, size)');
  const u = units(text, size);
  const chunks: Chunk[] = [];
  let i = 0;
  while (i < u.length) {
    let j = i;
    while (j + 1 < u.length && u[j + 1]!.end - u[i]!.start <= size) j++;
    const start = u[i]!.start;
    const end = u[j]!.end;
    chunks.push({ text: clean(text.slice(start, end)), start, end });
    if (j + 1 >= u.length) break;
    // overlap: the trailing units of this chunk that fit in overlapChars, as long as the next unit still fits too
    let k = j + 1;
    while (k - 1 > i && end - u[k - 1]!.start <= opts.overlapChars) k--;
    while (k <= j && u[j + 1]!.end - u[k]!.start > size) k++;
    i = k;
  }
  return chunks;
}

/**
 * Chunks each section (for example a PDF page) on its own, so no chunk spans two sections and each knows its
 * section; `sectionStarts` are ascending offsets into `text`, the first normally 0.
 */
export function chunkSections(text: string, sectionStarts: readonly number[], opts: ChunkOptions): (Chunk & { section: number })[] {
  const out: (Chunk & { section: number })[] = [];
  sectionStarts.forEach((start, section) => {
    const end = sectionStarts[section + 1] ?? text.length;
    for (const c of chunkText(text.slice(start, end), opts)) out.push({ text: c.text, start: c.start + start, end: c.end + start, section });
  });
  return out;
}

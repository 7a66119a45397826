// The chunker: size bound, full coverage, paragraph and sentence boundaries, overlap, determinism.
import { describe, expect, it } from 'vitest';
import { chunkSections, chunkText } from '../shared/ingest/chunker.js';

const sentence = (i: number) => `Sentence number ${i} says something about topic ${i % 7}.`;
const paragraph = (p: number, n: number) => Array.from({ length: n }, (_, i) => sentence(p * 100 + i)).join(' ');

/** Every non-space character of `text` lies inside some chunk's [start, end). */
function covered(text: string, chunks: { start: number; end: number }[]): boolean {
  const mark = new Uint8Array(text.length);
  for (const c of chunks) mark.fill(1, c.start, c.end);
  for (let i = 0; i < text.length; i++) if (!/\s/.test(text[i]!) && !mark[i]) return false;
  return true;
}

describe('chunkText', () => {
  it('returns no chunk for empty or blank text', () => {
    expect(chunkText('', { chunkChars: 100, overlapChars: 10 })).toEqual([]);
    expect(chunkText(' \n\n \f ', { chunkChars: 100, overlapChars: 10 })).toEqual([]);
  });

  it('keeps a short text as one chunk, whitespace normalised', () => {
    const chunks = chunkText('  Hello   world.\n\n\n\nSecond  paragraph.  ', { chunkChars: 100, overlapChars: 10 });
    expect(chunks).toHaveLength(1);
    expect(chunks[0]!.text).toBe('Hello world.\n\nSecond paragraph.');
  });

  it('never exceeds the chunk size and covers all of the text', () => {
    const text = Array.from({ length: 30 }, (_, p) => paragraph(p, 1 + (p % 9))).join('\n\n');
    for (const [chunkChars, overlapChars] of [[200, 0], [300, 60], [1000, 150], [57, 20]] as const) {
      const chunks = chunkText(text, { chunkChars, overlapChars });
      expect(chunks.length).toBeGreaterThan(1);
      for (const c of chunks) {
        expect(c.end - c.start).toBeLessThanOrEqual(chunkChars);
        expect(c.text.length).toBeLessThanOrEqual(chunkChars);
        expect(c.text).toBe(c.text.trim());
      }
      expect(covered(text, chunks)).toBe(true);
      // chunks advance through the text
      for (let i = 1; i < chunks.length; i++) expect(chunks[i]!.start).toBeGreaterThan(chunks[i - 1]!.start);
    }
  });

  it('keeps paragraphs that fit whole and does not start a chunk inside one', () => {
    const paras = Array.from({ length: 12 }, (_, p) => paragraph(p, 3));
    const text = paras.join('\n\n');
    const chunks = chunkText(text, { chunkChars: 600, overlapChars: 0 });
    const starts = new Set(paras.map((p) => text.indexOf(p)));
    for (const c of chunks) expect(starts.has(c.start)).toBe(true);
    for (const p of paras) expect(chunks.some((c) => c.text.includes(p))).toBe(true);
  });

  it('cuts a paragraph longer than a chunk at sentence ends', () => {
    const text = paragraph(1, 40);
    const chunks = chunkText(text, { chunkChars: 250, overlapChars: 0 });
    expect(chunks.length).toBeGreaterThan(5);
    for (const c of chunks) {
      expect(c.text).toMatch(/^Sentence number \d+/);
      expect(c.text).toMatch(/\.$/);
    }
  });

  it('cuts a sentence longer than a chunk at word boundaries', () => {
    const words = Array.from({ length: 300 }, (_, i) => `word${i}`);
    const chunks = chunkText(words.join(' '), { chunkChars: 100, overlapChars: 0 });
    const rejoined = chunks.map((c) => c.text).join(' ').split(' ');
    expect(rejoined).toEqual(words);
    for (const c of chunks) expect(c.text.length).toBeLessThanOrEqual(100);
  });

  it('overlaps consecutive chunks by whole sentences within the overlap size', () => {
    const text = paragraph(2, 60);
    const chunks = chunkText(text, { chunkChars: 300, overlapChars: 120 });
    for (let i = 1; i < chunks.length; i++) {
      const prev = chunks[i - 1]!;
      const cur = chunks[i]!;
      expect(cur.start).toBeLessThan(prev.end);
      expect(prev.end - cur.start).toBeLessThanOrEqual(120);
      expect(cur.text).toMatch(/^Sentence number \d+/);
    }
    const noOverlap = chunkText(text, { chunkChars: 300, overlapChars: 0 });
    for (let i = 1; i < noOverlap.length; i++) expect(noOverlap[i]!.start).toBeGreaterThanOrEqual(noOverlap[i - 1]!.end);
    expect(chunks.length).toBeGreaterThan(noOverlap.length);
  });

  it('treats a form feed (page break) as a paragraph break', () => {
    const chunks = chunkText(`${paragraph(1, 3)}\f${paragraph(2, 3)}`, { chunkChars: 200, overlapChars: 0 });
    expect(chunks[0]!.text.startsWith('Sentence number 100')).toBe(true);
    expect(chunks.some((c) => c.text.startsWith('Sentence number 200'))).toBe(true);
  });

  it('is deterministic', () => {
    const text = Array.from({ length: 20 }, (_, p) => paragraph(p, 5)).join('\n\n');
    expect(chunkText(text, { chunkChars: 400, overlapChars: 80 })).toEqual(chunkText(text, { chunkChars: 400, overlapChars: 80 }));
  });

  it('rejects an overlap not smaller than the chunk size', () => {
    expect(() => chunkText('x', { chunkChars: 100, overlapChars: 100 })).toThrow();
  });

  it('chunkSections keeps every chunk inside one section and reports it, with offsets into the whole text', () => {
    const pages = [paragraph(1, 9), paragraph(2, 2), paragraph(3, 12)];
    const text = pages.join('\f');
    const starts = [0, pages[0]!.length + 1, pages[0]!.length + pages[1]!.length + 2];
    const chunks = chunkSections(text, starts, { chunkChars: 200, overlapChars: 50 });
    expect(new Set(chunks.map((c) => c.section))).toEqual(new Set([0, 1, 2]));
    for (const c of chunks) {
      const end = starts[c.section + 1] ?? text.length;
      expect(c.start).toBeGreaterThanOrEqual(starts[c.section]!);
      expect(c.end).toBeLessThanOrEqual(end);
      expect(c.text).toBe(text.slice(c.start, c.end).replace(/\s+/g, ' ').trim());
    }
    expect(covered(text, chunks)).toBe(true);
  });
});

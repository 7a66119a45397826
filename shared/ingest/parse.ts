// Parsers from file bytes to plain text with paragraph breaks (blank lines; a form feed between PDF pages), one per
// supported kind: PDF (pdf-parse), DOCX (mammoth), HTML (htmlparser2), CSV (csv-parse), JSON / JSON Lines, Markdown
// and plain text. A file that cannot be parsed raises ParseError: retrying will not help, so the job fails at once.
import { parse as parseCsv } from 'csv-parse/sync';
import { Parser as HtmlParser } from 'htmlparser2';
import mammoth from 'mammoth';
import { PDFParse, VerbosityLevel } from 'pdf-parse';
import type { FileKind } from './detect.js';

export interface ParsedDocument {
  text: string;
  /** Offsets in `text` where each page starts (PDF only): page n (1-based) starts at pageStarts[n - 1]. */
  pageStarts?: number[];
  title?: string;
}

export class ParseError extends Error {}

const decoder = new TextDecoder('utf-8');

function decodeText(bytes: Uint8Array): string {
  return decoder.decode(bytes).replace(/\r\n?/g, '\n');
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function parsePdf(bytes: Uint8Array): Promise<ParsedDocument> {
  // pdf.js may take ownership of the buffer it is given, so it gets a copy
  const parser = new PDFParse({ data: new Uint8Array(bytes), verbosity: VerbosityLevel.ERRORS });
  try {
    const result = await parser.getText({ pageJoiner: '' });
    const pageStarts: number[] = [];
    let text = '';
    for (const page of result.pages) {
      if (pageStarts.length > 0) text += '\f';
      pageStarts.push(text.length);
      text += page.text.replace(/\r\n?/g, '\n');
    }
    return { text, pageStarts };
  } catch (err) {
    throw new ParseError(`invalid PDF: ${errorMessage(err)}`);
  } finally {
    await parser.destroy().catch(() => undefined);
  }
}

async function parseDocx(bytes: Uint8Array): Promise<ParsedDocument> {
  try {
    const result = await mammoth.extractRawText({ buffer: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) });
    return { text: result.value.replace(/\r\n?/g, '\n') };
  } catch (err) {
    throw new ParseError(`invalid DOCX: ${errorMessage(err)}`);
  }
}

const HTML_SKIP = new Set(['script', 'style', 'noscript', 'template', 'svg', 'math', 'iframe', 'object', 'canvas', 'head']);
const HTML_BLOCK = new Set([
  'p', 'div', 'section', 'article', 'header', 'footer', 'main', 'nav', 'aside', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6',
  'li', 'ul', 'ol', 'dl', 'dt', 'dd', 'table', 'tr', 'blockquote', 'pre', 'hr', 'figure', 'figcaption', 'form',
  'fieldset', 'address', 'details', 'summary', 'caption', 'body',
]);

function parseHtml(bytes: Uint8Array): ParsedDocument {
  const parts: string[] = [];
  let skipDepth = 0;
  let inTitle = false;
  let title = '';
  const parser = new HtmlParser(
    {
      onopentag(name) {
        if (name === 'title') inTitle = true;
        if (HTML_SKIP.has(name)) skipDepth++;
        else if (HTML_BLOCK.has(name)) parts.push('\n\n');
        else if (name === 'br') parts.push('\n');
        else if (name === 'td' || name === 'th') parts.push(' ');
      },
      onclosetag(name) {
        if (name === 'title') inTitle = false;
        if (HTML_SKIP.has(name)) skipDepth = Math.max(0, skipDepth - 1);
        else if (HTML_BLOCK.has(name)) parts.push('\n\n');
      },
      ontext(text) {
        if (inTitle) title += text;
        if (skipDepth === 0) parts.push(text.replace(/\s+/g, ' '));
      },
    },
    { decodeEntities: true, lowerCaseTags: true },
  );
  parser.write(decodeText(bytes));
  parser.end();
  const text = parts
    .join('')
    .replace(/[ \t]*\n[ \t]*/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
  const t = title.replace(/\s+/g, ' ').trim();
  return t ? { text: `${t}\n\n${text}`, title: t } : { text };
}

function parseCsvText(bytes: Uint8Array): ParsedDocument {
  let rows: string[][];
  try {
    rows = parseCsv(decodeText(bytes), { bom: true, relax_column_count: true, relax_quotes: true, skip_empty_lines: true }) as string[][];
  } catch (err) {
    throw new ParseError(`invalid CSV: ${errorMessage(err)}`);
  }
  const [header, ...records] = rows;
  if (!header) return { text: '' };
  if (records.length === 0) return { text: header.join(', ') };
  // one paragraph per record, each value labelled by its column so a chunk stands on its own
  const text = records
    .map((r) => r.map((v, i) => `${header[i] ?? `column ${i + 1}`}: ${v}`).join('; '))
    .join('\n\n');
  return { text };
}

/** "path: value" lines for every leaf. */
function jsonLines(value: unknown, path: string, out: string[]): void {
  if (value === null || typeof value !== 'object') {
    out.push(path ? `${path}: ${String(value)}` : String(value));
    return;
  }
  const entries: [string, unknown][] = Array.isArray(value) ? value.map((v, i) => [String(i), v]) : Object.entries(value);
  for (const [k, v] of entries) jsonLines(v, path ? `${path}.${k}` : k, out);
}

function jsonText(value: unknown, path: string): string {
  const lines: string[] = [];
  jsonLines(value, path, lines);
  return lines.join('\n');
}

/** A top-level array or object becomes one paragraph per element or entry. */
function jsonParagraphs(value: unknown): string[] {
  if (value === null || typeof value !== 'object') return [String(value)];
  const entries: [string, unknown][] = Array.isArray(value) ? value.map((v) => ['', v]) : Object.entries(value);
  return entries.map(([k, v]) => jsonText(v, k));
}

function parseJson(bytes: Uint8Array): ParsedDocument {
  let value: unknown;
  try {
    value = JSON.parse(decodeText(bytes));
  } catch (err) {
    throw new ParseError(`invalid JSON: ${errorMessage(err)}`);
  }
  return { text: jsonParagraphs(value).join('\n\n') };
}

function parseJsonl(bytes: Uint8Array): ParsedDocument {
  const paragraphs: string[] = [];
  decodeText(bytes)
    .split('\n')
    .forEach((line, i) => {
      if (!line.trim()) return;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (err) {
        throw new ParseError(`invalid JSON Lines (line ${i + 1}): ${errorMessage(err)}`);
      }
      paragraphs.push(jsonText(value, ''));
    });
  return { text: paragraphs.join('\n\n') };
}

function parseMarkdown(bytes: Uint8Array): ParsedDocument {
  let title: string | undefined;
  const text = decodeText(bytes)
    .split('\n')
    .map((line) => {
      if (/^\s*(```|~~~)/.test(line)) return '';
      const heading = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
      if (heading) {
        title ??= heading[1];
        // a heading is a paragraph of its own
        return `\n${heading[1]}\n`;
      }
      return line
        .replace(/!\[([^\]]*)\]\([^)]*\)/g, '$1')
        .replace(/\[([^\]]+)\]\(([^)\s]+)[^)]*\)/g, '$1 ($2)')
        .replace(/(\*\*|__|`)/g, '')
        .replace(/^\s{0,3}(>\s?)+/, '');
    })
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
  return title ? { text, title } : { text };
}

const PARSERS: Record<FileKind, (bytes: Uint8Array) => ParsedDocument | Promise<ParsedDocument>> = {
  pdf: parsePdf,
  docx: parseDocx,
  html: parseHtml,
  csv: parseCsvText,
  json: parseJson,
  jsonl: parseJsonl,
  markdown: parseMarkdown,
  text: (bytes) => ({ text: decodeText(bytes) }),
};

export async function parseDocument(kind: FileKind, bytes: Uint8Array): Promise<ParsedDocument> {
  return PARSERS[kind](bytes);
}

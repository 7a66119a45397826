// File type detection from the first bytes (magic numbers, UTF-8 validity) and the file name's extension.
// The gateway decides on the head of the stream before the upload goes far; the worker decides again on the object.

export type FileKind = 'pdf' | 'docx' | 'html' | 'markdown' | 'text' | 'csv' | 'json' | 'jsonl';
export const FILE_KINDS: readonly FileKind[] = ['pdf', 'docx', 'html', 'markdown', 'text', 'csv', 'json', 'jsonl'];

/** Bytes of the file's head the detector wants (less only when the file is shorter). */
export const DETECT_HEAD_BYTES = 8192;

const TEXT_EXTENSIONS: Record<string, FileKind> = {
  txt: 'text',
  text: 'text',
  log: 'text',
  md: 'markdown',
  markdown: 'markdown',
  html: 'html',
  htm: 'html',
  xhtml: 'html',
  csv: 'csv',
  json: 'json',
  jsonl: 'jsonl',
  ndjson: 'jsonl',
};

/** Binary formats we recognise in order to name them in the refusal. */
const OTHER_MAGIC: [string, number[]][] = [
  ['PNG image', [0x89, 0x50, 0x4e, 0x47]],
  ['JPEG image', [0xff, 0xd8, 0xff]],
  ['GIF image', [0x47, 0x49, 0x46, 0x38]],
  ['gzip archive', [0x1f, 0x8b]],
  ['ELF executable', [0x7f, 0x45, 0x4c, 0x46]],
  ['OLE2 (legacy Office) document', [0xd0, 0xcf, 0x11, 0xe0]],
  ['7-zip archive', [0x37, 0x7a, 0xbc, 0xaf]],
  ['RIFF media', [0x52, 0x49, 0x46, 0x46]],
];

export type Detection = { ok: true; kind: FileKind } | { ok: false; reason: string };

function startsWith(head: Uint8Array, bytes: readonly number[], at = 0): boolean {
  if (head.length < at + bytes.length) return false;
  return bytes.every((b, i) => head[at + i] === b);
}

function ascii(head: Uint8Array, start: number, end: number): string {
  return Buffer.from(head.buffer, head.byteOffset + start, Math.max(0, Math.min(end, head.length) - start)).toString('latin1');
}

export function extensionOf(filename: string): string {
  const base = filename.split(/[\\/]/).pop() ?? '';
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(dot + 1).toLowerCase() : '';
}

/**
 * True when `head` is UTF-8 text: valid sequences (a sequence cut by the end of the head is allowed when `truncated`),
 * no NUL, and control characters other than tab, newline, carriage return and form feed below 1 %.
 */
export function looksLikeUtf8Text(head: Uint8Array, truncated: boolean): boolean {
  let controls = 0;
  let i = 0;
  while (i < head.length) {
    const b = head[i]!;
    if (b < 0x80) {
      if (b === 0) return false;
      if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d && b !== 0x0c && b !== 0x1b) controls++;
      i++;
      continue;
    }
    const len = b >= 0xf0 && b <= 0xf4 ? 4 : b >= 0xe0 ? 3 : b >= 0xc2 && b <= 0xdf ? 2 : 0;
    if (len === 0 || b > 0xf4) return false;
    if (i + len > head.length) return truncated;
    for (let k = 1; k < len; k++) if ((head[i + k]! & 0xc0) !== 0x80) return false;
    i += len;
  }
  return controls <= head.length / 100;
}

function isDocxZip(head: Uint8Array): boolean {
  // Word writes [Content_Types].xml or a word/ part first; the local file header's name starts at byte 30
  const text = ascii(head, 0, head.length);
  return text.includes('[Content_Types].xml') || text.includes('word/');
}

function sniffText(head: Uint8Array): FileKind {
  const start = Buffer.from(head.buffer, head.byteOffset, Math.min(head.length, 512)).toString('utf8').replace(/^\uFEFF/, '').trimStart().toLowerCase();
  if (start.startsWith('<!doctype html') || start.startsWith('<html')) return 'html';
  return 'text';
}

/**
 * Decides the kind of a file from its first bytes (up to DETECT_HEAD_BYTES; `truncated` says more bytes follow)
 * and its name. Content wins over the extension for PDF; a name claiming a binary format the bytes do not have,
 * binary content, and unknown extensions are refused.
 */
export function detectFileKind(head: Uint8Array, filename: string, truncated: boolean): Detection {
  const ext = extensionOf(filename);
  if (head.length === 0) return { ok: false, reason: 'the file is empty' };
  if (startsWith(head, [0x25, 0x50, 0x44, 0x46, 0x2d])) return { ok: true, kind: 'pdf' }; // %PDF-
  if (startsWith(head, [0x50, 0x4b, 0x03, 0x04])) {
    if (ext === 'docx' && isDocxZip(head)) return { ok: true, kind: 'docx' };
    return { ok: false, reason: 'ZIP archives other than .docx documents are not supported' };
  }
  for (const [name, magic] of OTHER_MAGIC) {
    if (startsWith(head, magic)) return { ok: false, reason: `${name} files are not supported` };
  }
  if (ext === 'pdf') return { ok: false, reason: 'the file is named .pdf but does not start with %PDF-' };
  if (ext === 'docx') return { ok: false, reason: 'the file is named .docx but is not a ZIP (Office Open XML) document' };
  if (!looksLikeUtf8Text(head, truncated)) return { ok: false, reason: 'binary content (not UTF-8 text) is not supported' };
  if (ext === '') return { ok: true, kind: sniffText(head) };
  const kind = TEXT_EXTENSIONS[ext];
  if (!kind) return { ok: false, reason: `files with extension .${ext} are not supported` };
  return { ok: true, kind };
}

/** Which kinds are accepted, for messages and docs. */
export const SUPPORTED_DESCRIPTION = 'PDF, DOCX, HTML, Markdown, plain text, CSV, JSON and JSON Lines';

// File type detection from magic bytes and extension, and the upload inspector (size, sha256, type, limits).
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { DETECT_HEAD_BYTES, detectFileKind, looksLikeUtf8Text } from '../shared/ingest/detect.js';
import { InspectStream, UploadRejectedError } from '../shared/ingest/inspect-stream.js';
import { safeFilename, uploadKey } from '../shared/blob/keys.js';

const bytes = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));
const kindOf = (head: Uint8Array | string, name: string, truncated = false) => {
  const d = detectFileKind(typeof head === 'string' ? bytes(head) : head, name, truncated);
  return d.ok ? d.kind : `refused: ${d.reason}`;
};
const docxHead = () => Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04]), Buffer.alloc(26), Buffer.from('[Content_Types].xml')]);

describe('detectFileKind', () => {
  it('recognises every supported kind', () => {
    expect(kindOf('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n', 'report.pdf')).toBe('pdf');
    expect(kindOf(docxHead(), 'letter.docx')).toBe('docx');
    expect(kindOf('<!DOCTYPE html><html><body>x</body></html>', 'page.html')).toBe('html');
    expect(kindOf('<p>fragment</p>', 'page.htm')).toBe('html');
    expect(kindOf('# Title\n\nText', 'notes.md')).toBe('markdown');
    expect(kindOf('# Title', 'notes.markdown')).toBe('markdown');
    expect(kindOf('plain words', 'notes.txt')).toBe('text');
    expect(kindOf('a,b\n1,2\n', 'table.csv')).toBe('csv');
    expect(kindOf('{"a":1}', 'data.json')).toBe('json');
    expect(kindOf('{"a":1}\n{"a":2}\n', 'data.jsonl')).toBe('jsonl');
    expect(kindOf('{"a":1}\n', 'data.ndjson')).toBe('jsonl');
  });

  it('sniffs files without an extension', () => {
    expect(kindOf('<!doctype html><title>t</title>', 'index')).toBe('html');
    expect(kindOf('just some words', 'README')).toBe('text');
    expect(kindOf('%PDF-1.4 ...', 'scan')).toBe('pdf');
  });

  it('lets PDF content win over a text extension', () => {
    expect(kindOf('%PDF-1.4\n', 'mislabelled.txt')).toBe('pdf');
  });

  it('refuses binary formats, mislabelled files, unknown extensions and non-UTF-8 content', () => {
    expect(kindOf(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), 'image.png')).toMatch(/refused: PNG/);
    expect(kindOf(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a]), 'image.txt')).toMatch(/refused: PNG/);
    expect(kindOf(new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]), 'tool')).toMatch(/refused: ELF/);
    expect(kindOf(new Uint8Array([0x1f, 0x8b, 8, 0]), 'data.json')).toMatch(/refused: gzip/);
    expect(kindOf(docxHead(), 'archive.zip')).toMatch(/refused: ZIP/);
    expect(kindOf(new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0]), 'fake.docx')).toMatch(/refused: ZIP/);
    expect(kindOf('hello', 'fake.pdf')).toMatch(/refused: .*%PDF-/);
    expect(kindOf('hello', 'fake.docx')).toMatch(/refused: .*ZIP/);
    expect(kindOf('console.log(1)', 'script.js')).toMatch(/refused: .*\.js/);
    expect(kindOf(new Uint8Array([0x61, 0x00, 0x62, 0x00]), 'utf16.txt')).toMatch(/refused: binary/);
    expect(kindOf(new Uint8Array([0x61, 0xff, 0xfe, 0x62]), 'latin.txt')).toMatch(/refused: binary/);
    expect(kindOf('', 'empty.txt')).toMatch(/refused: the file is empty/);
  });

  it('accepts a UTF-8 sequence cut by the end of a truncated head only', () => {
    const cut = new Uint8Array([...Buffer.from('caf'), 0xc3]); // "caf" + first byte of "é"
    expect(looksLikeUtf8Text(cut, true)).toBe(true);
    expect(looksLikeUtf8Text(cut, false)).toBe(false);
    expect(looksLikeUtf8Text(new Uint8Array(Buffer.from('naïve café — ok')), false)).toBe(true);
  });
});

describe('safeFilename and uploadKey', () => {
  it('reduces client file names to a safe base name', () => {
    expect(safeFilename('../../etc/passwd')).toBe('passwd');
    expect(safeFilename('C:\\Users\\me\\My Report (v2).pdf')).toBe('My_Report_v2_.pdf');
    expect(safeFilename('.hidden')).toBe('hidden');
    expect(safeFilename('')).toBe('upload');
    expect(safeFilename(undefined)).toBe('upload');
    expect(safeFilename(`${'a'.repeat(300)}.pdf`)).toMatch(/^a{124}\.pdf$/);
    expect(uploadKey('acme', 'job-1', 'x/y z.md')).toBe('tenants/acme/uploads/job-1/y_z.md');
  });
});

async function inspect(chunks: Buffer[], name: string, max: number): Promise<{ out: Buffer; s: InspectStream }> {
  const s = new InspectStream(name, max);
  const parts: Buffer[] = [];
  await pipeline(
    Readable.from(chunks),
    s,
    new Writable({
      write(c: Buffer, _e, cb) {
        parts.push(c);
        cb();
      },
    }),
  );
  return { out: Buffer.concat(parts), s };
}

describe('InspectStream', () => {
  it('passes every byte through unchanged and reports size, sha256 and kind', async () => {
    const chunks = Array.from({ length: 50 }, (_, i) => Buffer.from(`line ${i} ${'x'.repeat(i * 37)}\n`));
    const all = Buffer.concat(chunks);
    const { out, s } = await inspect(chunks, 'notes.txt', 1e9);
    expect(out.equals(all)).toBe(true);
    expect(all.length).toBeGreaterThan(DETECT_HEAD_BYTES);
    expect(s.bytes).toBe(all.length);
    expect(s.sha256).toBe(createHash('sha256').update(all).digest('hex'));
    expect(s.kind).toBe('text');
  });

  it('decides on files shorter than the detection head at the end', async () => {
    const { out, s } = await inspect([Buffer.from('# T'), Buffer.from('itle\n')], 'a.md', 1e9);
    expect(out.toString()).toBe('# Title\n');
    expect(s.kind).toBe('markdown');
  });

  it('fails with the reason: empty, too large, unsupported', async () => {
    const reason = async (chunks: Buffer[], name: string, max: number) => {
      try {
        await inspect(chunks, name, max);
        return 'accepted';
      } catch (err) {
        expect(err).toBeInstanceOf(UploadRejectedError);
        return (err as UploadRejectedError).reason;
      }
    };
    expect(await reason([], 'a.txt', 100)).toBe('empty');
    expect(await reason([Buffer.alloc(60, 0x61), Buffer.alloc(60, 0x61)], 'a.txt', 100)).toBe('too_large');
    expect(await reason([Buffer.alloc(100, 0x61)], 'a.txt', 100)).toBe('accepted');
    expect(await reason([Buffer.from([0x89, 0x50, 0x4e, 0x47]), Buffer.alloc(DETECT_HEAD_BYTES)], 'a.png', 1e9)).toBe('unsupported');
  });

  it('holds back the head until the type is decided, so nothing of an unsupported file passes', async () => {
    const s = new InspectStream('x.bin', 1e9);
    const seen: Buffer[] = [];
    s.on('data', (c: Buffer) => seen.push(c));
    s.write(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
    await new Promise((r) => setImmediate(r));
    expect(seen).toHaveLength(0);
    const failed = new Promise((r) => s.once('error', r));
    s.write(Buffer.alloc(DETECT_HEAD_BYTES));
    expect(await failed).toBeInstanceOf(UploadRejectedError);
    expect(seen).toHaveLength(0);
  });
});

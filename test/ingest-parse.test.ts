// Parsers: each supported kind to text with paragraph breaks; PDF pages and page lookup; bad files are ParseErrors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDocument, ParseError } from '../shared/ingest/parse.js';
import { makeDocx } from './support/docx.js';
import { makePdf } from './support/pdf.js';
import { tempDir } from './support/tmp.js';

const b = (s: string) => Buffer.from(s, 'utf8');

describe('parseDocument', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    tmp = await tempDir();
  });
  afterAll(async () => {
    await tmp.cleanup();
  });

  it('PDF: text of every page, form feeds between pages, page start offsets', async () => {
    const pdf = await makePdf(tmp.dir, 'three', ['First page about apples.', 'Second page about bananas.', 'Third page about cherries.']);
    const doc = await parseDocument('pdf', pdf);
    expect(doc.pageStarts).toHaveLength(3);
    const pages = doc.text.split('\f');
    expect(pages).toHaveLength(3);
    expect(pages[1]).toContain('Second page about bananas.');
    expect(doc.pageStarts![0]).toBe(0);
    expect(doc.text.slice(doc.pageStarts![1]!, doc.pageStarts![2]! - 1)).toBe(pages[1]);
  });

  it('PDF: a corrupt file is a ParseError', async () => {
    await expect(parseDocument('pdf', b('%PDF-1.4\nthis is not a pdf body\n%%EOF'))).rejects.toBeInstanceOf(ParseError);
  });

  it('DOCX: paragraphs via mammoth; a broken archive is a ParseError', async () => {
    const doc = await parseDocument('docx', makeDocx(['Hello from Word.', 'Second <paragraph> & more.']));
    expect(doc.text.trim()).toBe('Hello from Word.\n\nSecond <paragraph> & more.');
    await expect(parseDocument('docx', Buffer.from([0x50, 0x4b, 0x03, 0x04, 1, 2, 3]))).rejects.toBeInstanceOf(ParseError);
  });

  it('HTML: title, block structure, entities decoded, scripts and styles dropped', async () => {
    const doc = await parseDocument(
      'html',
      b('<html><head><title>My Page</title><style>p{color:red}</style></head><body><h1>Head</h1><p>Fish &amp; chips<br>line two</p>' +
        '<script>var secret = 1</script><ul><li>a</li><li>b</li></ul><table><tr><td>x</td><td>y</td></tr></table></body></html>'),
    );
    expect(doc.title).toBe('My Page');
    expect(doc.text).toBe('My Page\n\nHead\n\nFish & chips\nline two\n\na\n\nb\n\nx y');
  });

  it('CSV: one paragraph per record, values labelled by column, quotes and BOM handled', async () => {
    const doc = await parseDocument('csv', b('\ufeffname,email\nAda,ada@x.org\n"Bob, Jr",bob@x.org\n'));
    expect(doc.text).toBe('name: Ada; email: ada@x.org\n\nname: Bob, Jr; email: bob@x.org');
  });

  it('JSON and JSON Lines: "path: value" lines, one paragraph per element; bad JSON is a ParseError', async () => {
    expect((await parseDocument('json', b('{"title":"T","items":[{"a":1},{"b":[2,3]}]}'))).text).toBe('title: T\n\nitems.0.a: 1\nitems.1.b.0: 2\nitems.1.b.1: 3');
    expect((await parseDocument('json', b('[{"a":"x"},{"a":"y"}]'))).text).toBe('a: x\n\na: y');
    expect((await parseDocument('jsonl', b('{"a":1}\n\n{"b":{"c":"d"}}\n'))).text).toBe('a: 1\n\nb.c: d');
    await expect(parseDocument('json', b('{"a":'))).rejects.toBeInstanceOf(ParseError);
    await expect(parseDocument('jsonl', b('{"a":1}\n{bad\n'))).rejects.toThrow(/line 2/);
  });

  it('Markdown: headings as paragraphs, markup removed, links kept with their target', async () => {
    const doc = await parseDocument('markdown', b('# Title\nSome **bold** and [a link](http://x.y) text.\n```js\ncode\n```\n> quote\n## Sub\nmore'));
    expect(doc.title).toBe('Title');
    expect(doc.text).toBe('Title\n\nSome bold and a link (http://x.y) text.\n\ncode\n\nquote\n\nSub\n\nmore');
  });

  it('text: UTF-8 decoded, BOM and CR removed', async () => {
    expect((await parseDocument('text', b('\ufeffline one\r\nline two'))).text).toBe('line one\nline two');
  });
});

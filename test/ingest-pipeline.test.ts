// Upload to searchable, end to end through real nats-server, s3rver, database node, gateway and worker: a real
// multi-page PDF (page 2's phrase is found by search, with its page number), entities with mentioned_in edges, the
// ingestion moment, every other supported kind, and a corrupt PDF that fails with a reason and a dead letter.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dlqSubject } from '../shared/bus/names.js';
import { entityId } from '../shared/rem/ids.js';
import { makeDocx } from './support/docx.js';
import { startIngestStack, type IngestStack } from './support/ingest.js';
import { makePdf } from './support/pdf.js';
import { tempDir } from './support/tmp.js';

let stack: IngestStack;
let tmp: Awaited<ReturnType<typeof tempDir>>;

beforeAll(async () => {
  [stack, tmp] = await Promise.all([startIngestStack(), tempDir()]);
});

afterAll(async () => {
  await stack?.close();
  await tmp?.cleanup();
});

const filler = (page: number, n: number) =>
  Array.from({ length: n }, (_, i) => `Paragraph ${i} of page ${page} describes routine matters of record keeping and storage.`).join('\n\n');

const squash = (s: string) => s.replace(/\s+/g, ' ');

async function ingest(tenant: string, name: string, data: Uint8Array | string) {
  const up = await stack.upload(tenant, { name, data });
  expect(up.status).toBe(202);
  return stack.waitJob(tenant, up.body.job_id);
}

describe('PDF upload to search', () => {
  const phrase = 'The quartz lighthouse of Vellmar hums at midnight';

  it('completes, and a phrase from page 2 is found by search with its page number', async () => {
    const pdf = await makePdf(tmp.dir, 'report', [
      `Quarterly report.\n\n${filler(1, 14)}\n\nAda Lovelace wrote the first program.`,
      `${filler(2, 6)}\n\n${phrase}, said Charles Babbage of the Analytical Society.\n\n${filler(2, 6)}`,
      `${filler(3, 14)}\n\nContact records@vellmar.example or see https://vellmar.example/archive #lighthouse`,
    ]);
    const job = await ingest('acme', 'report.pdf', pdf);
    expect(job).toMatchObject({ status: 'completed', error: null, attempts: 1, file: { kind: 'pdf', size_bytes: pdf.length } });
    expect(job.resources).toBeGreaterThanOrEqual(3);
    expect(job.progress).toEqual({ stage: 'done', chunks_total: job.resources, chunks_written: job.resources });

    for (const mode of ['keyword', 'hybrid']) {
      const res = await stack.node.call('GET', `/api/v1/resources?query=${encodeURIComponent('quartz lighthouse Vellmar midnight')}&mode=${mode}&limit=3`, { tenant: 'acme' });
      expect(res.status).toBe(200);
      const top = res.body.results[0];
      expect(squash(top.content)).toContain(phrase);
      expect(top.uri).toBe(job.file.uri);
      expect(top.metadata).toMatchObject({ page: 2, job_id: job.job_id, kind: 'pdf', filename: 'report.pdf', chunk_count: job.resources });
    }

    // every chunk is stored under the object's uri with consecutive ordinals
    const list = await stack.node.call('GET', `/api/v1/resources?uri_prefix=${encodeURIComponent(job.file.uri)}&limit=1000`, { tenant: 'acme' });
    expect(list.body.results.map((r: { chunk_ordinal: number }) => r.chunk_ordinal)).toEqual(Array.from({ length: job.resources }, (_, i) => i));
    expect(new Set(list.body.results.map((r: { metadata: { page: number } }) => r.metadata.page))).toEqual(new Set([1, 2, 3]));
  });

  it('writes the document entity, extracted entities with mentioned_in edges, and an ingestion moment', async () => {
    const pdf = await makePdf(tmp.dir, 'people', [`Grace Hopper met Alan Turing at the University of Manchester.\n\nMail grace@navy.example about #cobol.`, 'Page two.']);
    const job = await ingest('graph', 'people.pdf', pdf);
    expect(job.status).toBe('completed');

    const docId = entityId('document', job.file.uri);
    const doc = await stack.node.call('GET', `/api/v1/entities/${docId}`, { tenant: 'graph' });
    expect(doc.status).toBe(200);
    expect(doc.body.properties).toMatchObject({ job_id: job.job_id, kind: 'pdf', pages: 2, sha256: job.file.sha256, chunks: job.resources });

    const n = await stack.node.call('GET', `/api/v1/entities/${docId}/neighbors?direction=in&rel=mentioned_in&limit=100`, { tenant: 'graph' });
    expect(n.status).toBe(200);
    const mentioned = n.body.nodes.filter((x: { id: string }) => x.id !== docId).map((x: { type: string; key: string }) => `${x.type}:${x.key}`).sort();
    expect(mentioned).toEqual(['email:grace@navy.example', 'hashtag:cobol', 'organization:university of manchester', 'person:alan turing', 'person:grace hopper']);
    expect(job.entities).toBe(mentioned.length + 1);

    const moments = await stack.node.call('GET', '/api/v1/moments?type=ingestion&limit=10', { tenant: 'graph' });
    expect(moments.body.results).toHaveLength(1);
    const m = moments.body.results[0];
    expect(m.moment_type).toBe('ingestion');
    expect(m.resource_ids).toHaveLength(job.resources);
    expect(m.entity_ids).toContain(docId);
    expect(m.people.sort()).toEqual(['Alan Turing', 'Grace Hopper']);
    expect(m.metadata).toMatchObject({ job_id: job.job_id, uri: job.file.uri, chunks: job.resources });
  });
});

describe('every supported kind', () => {
  const docs: [string, Uint8Array | string, string][] = [
    ['notes.md', '# Field notes\n\nThe **marmalade** protocol was *ratified* in [spring](http://x.example).\n', 'marmalade protocol ratified'],
    ['page.html', '<html><head><title>T</title><script>var hidden = "zeppelin";</script></head><body><p>A tangerine dirigible floated.</p></body></html>', 'tangerine dirigible'],
    ['people.csv', 'name,role\nOrla Quince,cartographer\nBram Yew,navigator\n', 'cartographer Orla'],
    ['events.jsonl', '{"event":"launch","vessel":"Kestrel"}\n{"event":"docking","vessel":"Osprey"}\n', 'docking Osprey'],
    ['config.json', '{"service":{"name":"gondola","replicas":3}}', 'gondola'],
    ['letter.docx', makeDocx(['Dear committee,', 'The saffron ledger is balanced.']), 'saffron ledger'],
    ['plain.txt', 'An obsidian kettle whistles in the attic.', 'obsidian kettle'],
  ];

  it.each(docs)('%s is parsed, chunked and searchable', async (name, data, query) => {
    const tenant = `kinds-${name.replace(/\W/g, '-')}`;
    const job = await ingest(tenant, name, data);
    expect(job.status).toBe('completed');
    expect(job.resources).toBeGreaterThanOrEqual(1);
    const res = await stack.node.call('GET', `/api/v1/resources?query=${encodeURIComponent(query)}&mode=keyword`, { tenant });
    expect(res.body.results[0]?.uri).toBe(job.file.uri);
    for (const word of query.split(' ')) expect(res.body.results[0].content.toLowerCase()).toContain(word.toLowerCase());
  });

  it('does not index what the HTML parser drops (scripts)', async () => {
    const res = await stack.node.call('GET', '/api/v1/resources?query=zeppelin&mode=keyword', { tenant: 'kinds-page-html' });
    expect(res.body.results).toEqual([]);
  });
});

describe('a corrupt PDF', () => {
  it('fails at once with the parser reason, and the job goes to the dead-letter subject', async () => {
    const corrupt = Buffer.from('%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\nthis is not a real PDF body at all\n%%EOF\n');
    const job = await ingest('broken', 'corrupt.pdf', corrupt);
    expect(job.status).toBe('failed');
    expect(job.error).toMatch(/invalid PDF/);
    expect(job.progress.stage).toBe('parse');
    // a parse error is permanent: no redelivery
    expect(job.attempts).toBe(1);
    const letters = await stack.deadLetters();
    const mine = letters.filter((l) => l.letter.job?.job_id === job.job_id);
    expect(mine).toHaveLength(1);
    expect(mine[0]!.subject).toBe(dlqSubject('small'));
    expect(mine[0]!.letter.reason).toBe(job.error);
    expect(mine[0]!.letter.job).toMatchObject({ tenant: 'broken', file: { kind: 'pdf', filename: 'corrupt.pdf' } });
    const search = await stack.node.call('GET', '/api/v1/resources?limit=10', { tenant: 'broken' });
    expect(search.status).toBe(404); // nothing was written: the tenant does not even exist on the node
  });
});

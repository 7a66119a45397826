// Chat with the offline extractive answerer through a real node, plus the pieces it is made of: time windows named
// in questions, the context budget, and the SSE parser.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approxTokens, fitContext, fitHistory } from '../shared/chat/budget.js';
import { parseSse, formatSse } from '../shared/chat/sse.js';
import { parseTimeWindows } from '../shared/chat/time-window.js';
import type { ContextItem } from '../shared/chat/types.js';
import { startNode, type TestNode } from './support/api.js';
import { postEvents } from './support/sse.js';

const iso = (ms: number) => new Date(ms).toISOString();

describe('time windows named in questions', () => {
  const now = new Date('2024-05-15T10:30:00Z'); // a Wednesday
  const w = (text: string) => parseTimeWindows(text, now).map((x) => [iso(x.fromMs), iso(x.toMs), x.phrase]);

  it('relative days, weeks, months and years', () => {
    expect(w('what happened yesterday?')).toEqual([['2024-05-14T00:00:00.000Z', '2024-05-14T23:59:59.999Z', 'yesterday']]);
    expect(w('and today')).toEqual([['2024-05-15T00:00:00.000Z', '2024-05-15T23:59:59.999Z', 'today']]);
    expect(w('meetings last week')).toEqual([['2024-05-06T00:00:00.000Z', '2024-05-12T23:59:59.999Z', 'last week']]);
    expect(w('this week')).toEqual([['2024-05-13T00:00:00.000Z', '2024-05-19T23:59:59.999Z', 'this week']]);
    expect(w('last month')).toEqual([['2024-04-01T00:00:00.000Z', '2024-04-30T23:59:59.999Z', 'last month']]);
    expect(w('last year')).toEqual([['2023-01-01T00:00:00.000Z', '2023-12-31T23:59:59.999Z', 'last year']]);
    expect(w('in the last 3 days')).toEqual([['2024-05-13T00:00:00.000Z', now.toISOString(), 'last 3 days']]);
    expect(w('over the past two weeks')).toEqual([['2024-05-02T00:00:00.000Z', now.toISOString(), 'past two weeks']]);
  });

  it('named months, years and calendar dates', () => {
    expect(w('What did we decide in March 2024?')).toEqual([['2024-03-01T00:00:00.000Z', '2024-03-31T23:59:59.999Z', 'march 2024']]);
    expect(w('in March')).toEqual([['2024-03-01T00:00:00.000Z', '2024-03-31T23:59:59.999Z', 'in march']]);
    expect(w('in December')).toEqual([['2023-12-01T00:00:00.000Z', '2023-12-31T23:59:59.999Z', 'in december']]);
    expect(w('during 2022')).toEqual([['2022-01-01T00:00:00.000Z', '2022-12-31T23:59:59.999Z', 'during 2022']]);
    expect(w('on 2024-02-29')).toEqual([['2024-02-29T00:00:00.000Z', '2024-02-29T23:59:59.999Z', '2024-02-29']]);
    expect(w('in 2024-02')).toEqual([['2024-02-01T00:00:00.000Z', '2024-02-29T23:59:59.999Z', '2024-02']]);
    expect(w('on March 5th, 2024 and 7 Jan 2023')).toEqual([
      ['2024-03-05T00:00:00.000Z', '2024-03-05T23:59:59.999Z', 'march 5th, 2024'],
      ['2023-01-07T00:00:00.000Z', '2023-01-07T23:59:59.999Z', '7 jan 2023'],
    ]);
  });

  it('no window in plain questions or impossible dates', () => {
    expect(w('Where does Ada work?')).toEqual([]);
    expect(w('on 2023-02-30')).toEqual([]);
    expect(w('you may ask')).toEqual([]);
  });
});

describe('context budget', () => {
  const item = (id: string, chars: number): ContextItem => ({ kind: 'resources', id, uri: `u://${id}`, title: id, text: 'word '.repeat(chars / 5).trim(), source: 'search' });

  it('keeps items in rank order within the budget and shortens the one that crosses it', () => {
    const items = [item('a', 400), item('b', 400), item('c', 400)];
    const fitted = fitContext(items, 250);
    expect(fitted.map((i) => i.id)).toEqual(['a', 'b', 'c'].slice(0, fitted.length));
    const used = fitted.reduce((n, i) => n + approxTokens(i.title) + 4 + approxTokens(i.text), 0);
    expect(used).toBeLessThanOrEqual(250);
    expect(fitted[fitted.length - 1]!.text.endsWith('…')).toBe(true);
    expect(fitContext(items, 10_000)).toEqual(items);
  });

  it('history keeps system messages and the newest turns', () => {
    const msgs = [
      { role: 'system' as const, content: 'be brief' },
      { role: 'user' as const, content: 'x'.repeat(400) },
      { role: 'assistant' as const, content: 'y'.repeat(400) },
      { role: 'user' as const, content: 'the question' },
    ];
    expect(fitHistory(msgs, 150).map((m) => m.content)).toEqual(['be brief', 'y'.repeat(400), 'the question']);
    expect(fitHistory(msgs, 10_000)).toEqual(msgs);
  });
});

describe('SSE parser', () => {
  it('reassembles events split anywhere, with CRLF, comments and multi-line data', async () => {
    const text = ': keep-alive\r\nevent: delta\r\ndata: {"a":1}\r\n\r\ndata: line one\ndata: line two\n\n' + formatSse('[DONE]');
    const bytes = new TextEncoder().encode(text);
    async function* chunks() {
      for (let i = 0; i < bytes.length; i += 3) yield bytes.slice(i, i + 3);
    }
    const events = [];
    for await (const e of parseSse(chunks())) events.push(e);
    expect(events).toEqual([
      { event: 'delta', data: '{"a":1}' },
      { event: 'message', data: 'line one\nline two' },
      { event: 'message', data: '[DONE]' },
    ]);
  });
});

describe('POST /api/v1/chat with the offline extractive answerer', () => {
  let node: TestNode;
  const T = 'chatty';
  const chat = (body: unknown, headers: Record<string, string> = {}) => node.call('POST', '/api/v1/chat', { tenant: T, body, headers });
  const day = 86_400_000;
  const yesterday = new Date(Date.now() - day).toISOString().slice(0, 10);

  beforeAll(async () => {
    node = await startNode();
    const resources = [
      { uri: 'notes://ada', name: 'Ada', content: 'Ada Lovelace wrote the first published algorithm for the Analytical Engine. She worked with Charles Babbage in London.' },
      { uri: 'notes://hopper', name: 'Hopper', content: 'Grace Hopper developed the first compiler for a programming language.' },
      { uri: 'notes://ship', content: 'The destroyer USS Hopper was named after Grace Hopper in 1996.' },
      { uri: 'notes://victory', content: 'The ship HMS Victory was named after a famous victory at sea.' },
      { uri: 'notes://noise', content: 'Quarterly revenue grew by four percent in the northern region.' },
    ];
    expect((await node.call('POST', '/api/v1/resources', { tenant: T, body: { resources } })).status).toBe(201);
    const entities = [
      { type: 'person', key: 'Ada Lovelace', properties: { born: 1815 }, edges: [{ rel: 'collaborated_with', to: { type: 'person', key: 'Charles Babbage' } }] },
      { type: 'person', key: 'Charles Babbage', properties: { invented: 'Difference Engine' } },
    ];
    expect((await node.call('POST', '/api/v1/entities', { tenant: T, body: { entities } })).status).toBe(201);
    const moments = [
      { name: 'Standup', summary: 'Discussed the release plan with the platform team.', start_time: `${yesterday}T09:30:00Z`, moment_type: 'meeting' },
      { name: 'Offsite', summary: 'Planned the roadmap for next year.', start_time: new Date(Date.now() - 40 * day).toISOString(), moment_type: 'meeting' },
    ];
    expect((await node.call('POST', '/api/v1/moments', { tenant: T, body: { moments } })).status).toBe(201);
  });
  afterAll(async () => {
    await node.close();
  });

  it('answers from the resource that holds the answer and cites it', async () => {
    const r = await chat({ messages: [{ role: 'user', content: 'Who developed the first compiler?' }] });
    expect(r.status).toBe(200);
    expect(r.body.provider).toBe('extractive');
    expect(r.body.answer).toMatch(/^Grace Hopper developed the first compiler for a programming language\. \[\d+\]/);
    expect(r.body.citations[0]).toEqual({ n: 1, kind: 'resources', id: expect.stringMatching(/^[0-9a-f]{32}$/), uri: 'notes://hopper', snippet: 'Grace Hopper developed the first compiler for a programming language.' });
    expect(r.body.citations.map((c: { uri: string }) => c.uri)).not.toContain('notes://noise');
  });

  it('uses the whole conversation: a follow-up question keeps the earlier subject', async () => {
    const r = await chat({
      messages: [
        { role: 'user', content: 'Tell me about Grace Hopper.' },
        { role: 'assistant', content: 'Grace Hopper developed the first compiler. [1]' },
        { role: 'user', content: 'Which ship was named after her?' },
      ],
    });
    expect(r.status).toBe(200);
    expect(r.body.citations[0]).toMatchObject({ kind: 'resources', uri: 'notes://ship' });
    expect(r.body.answer).toMatch(/^The destroyer USS Hopper was named after Grace Hopper in 1996\./);
  });

  it('finds entities named in the question with their neighbours', async () => {
    const r = await chat({ messages: [{ role: 'user', content: 'Who collaborated with ada lovelace?' }], limit: 4 });
    expect(r.status).toBe(200);
    const entity = r.body.citations.find((c: { kind: string }) => c.kind === 'entities');
    expect(entity).toMatchObject({ uri: null });
    expect(r.body.answer).toMatch(/Ada Lovelace collaborated with Charles Babbage \(person\)\. \[\d\]/);
  });

  it('answers questions about a time window from the moments inside it', async () => {
    const r = await chat({ messages: [{ role: 'user', content: 'What happened yesterday?' }] });
    expect(r.status).toBe(200);
    expect(r.body.citations[0]).toMatchObject({ kind: 'moments', uri: null });
    expect(r.body.answer).toContain('Discussed the release plan with the platform team.');
    expect(r.body.answer).not.toContain('roadmap');
  });

  it('says so when nothing in memory answers the question', async () => {
    const r = await chat({ messages: [{ role: 'user', content: 'zebra xylophone quokka' }] });
    expect(r.body).toMatchObject({ answer: 'I could not find anything about that in this memory.', citations: [] });
  });

  it('stores each exchange as a conversation moment when X-Session-Id is given', async () => {
    const r = await chat({ messages: [{ role: 'user', content: 'Who developed the first compiler?' }] }, { 'x-session-id': 'sess-42' });
    expect(r.status).toBe(200);
    expect(r.body.moment_id).toMatch(/^[0-9a-f]{32}$/);
    const m = await node.call('GET', `/api/v1/moments/${r.body.moment_id}`, { tenant: T });
    expect(m.body).toMatchObject({ moment_type: 'conversation', tags: ['conversation'], metadata: { session_id: 'sess-42' } });
    expect(m.body.summary).toBe(`Q: Who developed the first compiler?\nA: ${r.body.answer.replace(/ \[\d\]/g, '')}`);
    expect(m.body.resource_ids).toEqual([r.body.citations[0].id]);
    const listed = await node.call('POST', '/api/v1/query', { tenant: T, body: { query: "SELECT id FROM moments WHERE moment_type = 'conversation' AND metadata.session_id = 'sess-42'" } });
    expect(listed.body.rows).toEqual([{ id: r.body.moment_id }]);
    const bad = await chat({ messages: [{ role: 'user', content: 'hi' }] }, { 'x-session-id': 'bad id!' });
    expect(bad.status).toBe(400);
  });

  it('ranks stored exchanges below primary sources: the same question still cites the resource', async () => {
    const again = await chat({ messages: [{ role: 'user', content: 'Who developed the first compiler?' }] });
    expect(again.body.citations[0]).toMatchObject({ kind: 'resources', uri: 'notes://hopper' });
    expect(again.body.answer).not.toMatch(/Q: /);
  });

  it('streams Server-Sent Events: deltas, then the answer with citations', async () => {
    const { status, contentType, events } = await postEvents(`${node.url}/api/v1/chat`, T, { messages: [{ role: 'user', content: 'Who developed the first compiler?' }], stream: true });
    expect(status).toBe(200);
    expect(contentType).toMatch(/^text\/event-stream/);
    const deltas = events.filter((e) => e.event === 'delta').map((e) => JSON.parse(e.data).content as string);
    expect(deltas.length).toBeGreaterThan(3);
    const done = events.at(-1)!;
    expect(done.event).toBe('done');
    const body = JSON.parse(done.data);
    expect(deltas.join('')).toBe(body.answer);
    expect(body.citations[0]).toMatchObject({ kind: 'resources', uri: 'notes://hopper' });
  });

  it('rejects bad requests with 4xx', async () => {
    expect((await chat({ messages: [{ role: 'assistant', content: 'hello' }] })).status).toBe(400);
    expect((await chat({ messages: [] })).status).toBe(400);
    expect((await chat({ messages: [{ role: 'user', content: 'x' }], limit: 0 })).status).toBe(400);
    expect((await node.call('POST', '/api/v1/chat', { tenant: null, body: { messages: [{ role: 'user', content: 'x' }] } })).body.error.code).toBe('missing_tenant');
    expect((await node.call('POST', '/api/v1/chat', { tenant: 'no-such-tenant', body: { messages: [{ role: 'user', content: 'x' }] } })).status).toBe(404);
  });
});

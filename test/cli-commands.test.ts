// `percolate query`, `upload`, `jobs` and `tenant` as processes (bin/percolate.js) against real services: the ingest
// stack (nats-server, s3rver, a database node, the gateway and a worker, auth off) and a second node with auth
// required and a token minted by `percolate token`. Query: a table of the rows, --json the node's answer as sent,
// values cut to --width, a bad statement exit 1 with the node's code, statements piped on stdin (stopping at the first
// failure), and the prompt through a pseudo-terminal (util-linux `script`) with its history recalled by the arrow key in
// a second session. Upload: the file arrives intact (size and sha256), its stages are printed, it completes and its
// content is then found by a query; an unsupported file and a job that fails exit 1 (the other file of the same
// command still completes); --no-wait prints the id only, with progress lines per quarter; a 128 MiB file goes out
// with the command's peak RSS far below its size (Node 20's fetch would hold it all). Jobs: the status, --json,
// --follow; no id exit 2. Tenant: the counts. Usage: no tenant exit 2; an unreachable URL exit 1 naming it.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBinary } from '../scripts/system-deps.js';
import { startNode, type TestNode } from './support/api.js';
import { startIngestStack, type IngestStack } from './support/ingest.js';
import { freePort } from './support/ports.js';
import { REPO_ROOT } from './support/process.js';
import { BIN, cleanEnv, runPercolate, type Run } from './support/cli.js';
import { tempDir } from './support/tmp.js';
import { waitFor } from './support/wait.js';

const T = 'clitest';
/** A tier of the gateway no worker takes jobs from: the large upload's job stays queued, nobody parses it. */
const PARKED_TIER = 'parked';


let stack: IngestStack;
let authNode: TestNode;
let tmp: { dir: string; cleanup: () => Promise<void> };

/** The stack's node, gateway and tenant T, unless `env` says otherwise. */
function stackEnv(): Record<string, string> {
  return { PERCOLATE_API_URL: stack.node.url, PERCOLATE_GATEWAY_URL: stack.gatewayUrl, PERCOLATE_TENANT: T };
}

function run(args: string[], env: Record<string, string> = stackEnv(), stdin?: string): Promise<Run> {
  return runPercolate(args, { cwd: tmp.dir, env: { HOME: tmp.dir, ...env }, ...(stdin !== undefined ? { stdin } : {}) });
}

/**
 * `percolate query` on a pseudo-terminal (`script`); the input is written once the prompt shows, and ends with `exit`:
 * the end of script's stdin does not reliably reach a terminal in raw mode (the prompt's) as an end of input.
 */
async function runOnTerminal(args: string[], input: string, home: string): Promise<{ code: number | null; output: string }> {
  const script = requireBinary('script', 'util-linux');
  const command = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn(script, ['-qec', command, '/dev/null'], { cwd: tmp.dir, env: { ...cleanEnv(), ...stackEnv(), HOME: home }, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  let code: number | null | undefined;
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const closed = new Promise<void>((resolve) => child.on('close', (c) => ((code = c), resolve())));
  try {
    await waitFor('the prompt', async () => output.includes(`${T}> `), 20_000);
    child.stdin.end(`${input}exit\r`);
    await waitFor(
      'the prompt to end',
      async () => {
        if (code === undefined) throw new Error(`output so far: ${JSON.stringify(output)}`);
        return true;
      },
      20_000,
    );
  } finally {
    if (code === undefined) {
      child.kill('SIGKILL');
      await closed;
    }
  }
  return { code: code ?? null, output };
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/** The cells of a table line (columns are separated by two spaces or more). */
const cells = (line: string) => line.trim().split(/ {2,}/);

beforeAll(async () => {
  [stack, authNode, tmp] = await Promise.all([startIngestStack({ env: { PERCOLATE_JOB_TIERS: `small,${PARKED_TIER}` } }), startNode({ PERCOLATE_AUTH: 'required' }), tempDir('percolate-cli-commands-')]);
  const e = await stack.node.call('POST', '/api/v1/entities', {
    tenant: T,
    body: {
      entities: [
        { type: 'person', key: 'Marie Curie', properties: { born: 1867, field: 'physics' } },
        { type: 'person', key: 'Pierre Curie', properties: { born: 1859, field: 'physics' } },
        { type: 'org', key: 'Sorbonne', properties: { city: 'Paris' } },
      ],
    },
  });
  expect(e.status).toBe(201);
  const r = await stack.node.call('POST', '/api/v1/resources', { tenant: T, body: { resources: [{ uri: 'notes://long', content: `Radium ${'glows faintly '.repeat(20)}in the dark.` }] } });
  expect(r.status).toBe(201);
});

afterAll(async () => {
  await Promise.all([stack?.close(), authNode?.close()]);
  await tmp?.cleanup();
});

describe('percolate query', () => {
  it('prints the rows as a table on stdout, the count on stderr; --json prints the node answer as sent', async () => {
    const statement = "SELECT key, properties.born AS born FROM entities WHERE type = 'person' ORDER BY key";
    const [table, json] = await Promise.all([run(['query', statement]), run(['query', '--json', statement])]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toBe(['key           born', '------------  ----', 'Marie Curie   1867', 'Pierre Curie  1859', ''].join('\n'));
    expect(table.stderr).toMatch(/^2 rows, [\d.]+ ms\n$/);

    expect(json.code, json.stderr).toBe(0);
    expect(json.stdout.endsWith('\n')).toBe(true);
    expect(json.stdout.trim().split('\n')).toHaveLength(1);
    const direct = await stack.node.call('POST', '/api/v1/query', { tenant: T, body: { query: statement } });
    const answer = JSON.parse(json.stdout);
    expect({ ...answer, took_ms: 0 }).toEqual({ ...direct.body, took_ms: 0 });
    expect(answer.rows).toEqual([{ key: 'Marie Curie', born: 1867 }, { key: 'Pierre Curie', born: 1859 }]);
  });

  it('cuts values to --width, opens a search hit record, takes --params, and EXPLAIN prints the plan', async () => {
    const [narrow, search, params, explain] = await Promise.all([
      run(['query', '--width', '12', "SELECT uri, content FROM resources WHERE uri = 'notes://long'"]),
      run(['query', "SEARCH 'radium glows' IN resources MODE keyword LIMIT 1"]),
      run(['query', '--params', '[1860]', "SELECT key FROM entities WHERE properties.born > $1"]),
      run(['query', "EXPLAIN SELECT key FROM entities WHERE type = 'org'"]),
    ]);
    expect(narrow.code, narrow.stderr).toBe(0);
    const lines = narrow.stdout.trimEnd().split('\n');
    expect(cells(lines[0]!)).toEqual(['uri', 'content']);
    expect(cells(lines[2]!)).toEqual(['notes://long', 'Radium glow…']);

    expect(search.code, search.stderr).toBe(0);
    const [header, , hit] = search.stdout.split('\n');
    const h = cells(header!);
    expect(h).toEqual(expect.arrayContaining(['kind', 'score', 'record.uri', 'record.content']));
    expect(cells(hit!)[h.indexOf('record.uri')]).toBe('notes://long');
    expect(search.stderr).toMatch(/^1 result, /);

    expect(params.code, params.stderr).toBe(0);
    expect(params.stdout.split('\n').slice(2, -1)).toEqual(['Marie Curie']);

    expect(explain.code, explain.stderr).toBe(0);
    expect(JSON.parse(explain.stdout)).toMatchObject({ op: 'select', kind: 'entities' });
  });

  it('a bad statement exits 1 with the node error code and message, and nothing on stdout', async () => {
    const r = await run(['query', 'SELEC key FROM entities']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe("percolate: invalid_query: line 1, column 1: expected EXPLAIN, LOOKUP, FUZZY, SEARCH, TRAVERSE or SELECT, found 'SELEC'\n");
    const unknown = await run(['query', 'SELECT key FROM entities'], { ...stackEnv(), PERCOLATE_TENANT: 'nobody-here' });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^percolate: tenant_not_found: /);
  });

  it('runs statements piped on stdin, one per line, skipping comments, and stops at the first failure', async () => {
    const good = await run(['query'], stackEnv(), "-- the orgs\nSELECT key FROM entities WHERE type = 'org';\n\n# and a count\nSELECT COUNT(*) AS n FROM entities\n");
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toBe(['key', '--------', 'Sorbonne', '', 'n', '-', '3', ''].join('\n'));
    expect(good.stderr.split('\n').filter(Boolean)).toEqual([expect.stringMatching(/^1 row, /), expect.stringMatching(/^1 row, /)]);

    const bad = await run(['query', '--json'], stackEnv(), "SELECT COUNT(*) AS n FROM entities\nLOOKUP\nSELECT key FROM entities\n");
    expect(bad.code).toBe(1);
    expect(bad.stdout.trim().split('\n').map((l) => JSON.parse(l).rows)).toEqual([[{ n: 3 }]]); // the third never ran
    expect(bad.stderr).toMatch(/^percolate: line 2: invalid_query: /);

    const none = await run(['query'], stackEnv(), '\n-- nothing\n');
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('percolate: no statement');
  });

  it('on a terminal, prompts; the history file keeps the statements and the up arrow recalls them in the next session', async () => {
    const home = path.join(tmp.dir, 'home-prompt');
    await fs.mkdir(home);
    const first = await runOnTerminal(['query'], "SELECT key FROM entities WHERE type = 'org'\rBAD\rSELECT COUNT(*) AS n FROM entities\r", home);
    expect(first.code, first.output).toBe(0);
    expect(first.output).toContain('Sorbonne');
    expect(first.output).toContain("percolate: invalid_query: line 1, column 1: expected EXPLAIN, LOOKUP, FUZZY, SEARCH, TRAVERSE or SELECT, found 'BAD'");
    expect(first.output).toMatch(/n\r?\n-\r?\n3/); // the prompt went on after the error
    const file = path.join(home, '.percolate_history');
    expect(await fs.readFile(file, 'utf8')).toBe("SELECT key FROM entities WHERE type = 'org'\nBAD\nSELECT COUNT(*) AS n FROM entities\nexit\n");
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);

    // up four times (past exit): the first statement of the last session, run again
    const second = await runOnTerminal(['query'], '\x1b[A\x1b[A\x1b[A\x1b[A\r', home);
    expect(second.code, second.output).toBe(0);
    expect(second.output).toMatch(/key\r?\n-+\r?\nSorbonne/);
  });

  it('sends the token of --token or PERCOLATE_API_TOKEN; without one the node 401 is exit 1 with a hint', async () => {
    const minted = await run(['token', '--tenant', T, '--scope', 'ro', '--ttl', '5m'], { PERCOLATE_DATA_DIR: authNode.dataDir });
    expect(minted.code, minted.stderr).toBe(0);
    const token = minted.stdout.trim();
    const env = { PERCOLATE_API_URL: authNode.url, PERCOLATE_TENANT: T };
    const [none, viaEnv, viaFlag, otherTenant] = await Promise.all([
      run(['query', 'SELECT COUNT(*) AS n FROM entities'], env),
      run(['tenant', '--json'], { ...env, PERCOLATE_API_TOKEN: token }),
      run(['query', '--token', token, 'SELECT COUNT(*) AS n FROM entities'], env),
      run(['query', '--token', token, '--tenant', 'someone-else', 'SELECT COUNT(*) AS n FROM entities'], env),
    ]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('percolate: token_missing: ');
    expect(none.stderr).toContain('PERCOLATE_API_TOKEN');
    // the tenant exists nowhere on this node yet: the token passed, the node looked
    expect(viaEnv.code).toBe(1);
    expect(viaEnv.stderr).toMatch(/^percolate: tenant_not_found: /);
    expect(viaFlag.code).toBe(1);
    expect(viaFlag.stderr).toMatch(/^percolate: tenant_not_found: /);
    expect(otherTenant.code).toBe(1);
    expect(otherTenant.stderr).toMatch(/^percolate: tenant_forbidden: /);
  });
});

describe('percolate tenant', () => {
  it("prints the tenant's counts and state, and --json the node's answer", async () => {
    const [table, json] = await Promise.all([run(['tenant']), run(['tenant', '--json'])]);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trimEnd().split('\n').map(cells);
    expect(lines.slice(0, 2)).toEqual([['tenant', T], ['state', 'hot']]);
    expect(lines).toContainEqual(['counts.entities', '3']);
    expect(lines).toContainEqual(['counts.resources', expect.stringMatching(/^\d+$/)]);
    expect(json.code, json.stderr).toBe(0);
    const answer = JSON.parse(json.stdout);
    expect(answer).toMatchObject({ tenant: T, state: 'hot' });
    expect(lines).toContainEqual(['counts.resources', String(answer.counts.resources)]);
  });
});

describe('percolate upload and jobs', () => {
  it('streams a file, prints its job id and stages, completes, and its content is then found through the node', async () => {
    const text = 'The obsidian kettle whistles in the attic of the lighthouse.\n';
    const file = path.join(tmp.dir, 'kettle.txt');
    await fs.writeFile(file, text);
    const r = await run(['upload', file]);
    expect(r.code, r.stderr).toBe(0);
    const jobId = r.stdout.trim();
    expect(r.stdout).toBe(`${jobId}\n`);
    expect(jobId).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.stderr).toContain(`kettle.txt: sent ${text.length} of ${text.length} bytes`);
    expect(r.stderr).toContain(`kettle.txt: accepted, job ${jobId}`);
    expect(r.stderr).toMatch(new RegExp(`kettle\\.txt: completed: [1-9]\\d* resources, \\d+ entities \\(job ${jobId}\\)`));
    // the multipart body the command built carried the file exactly
    const job = await stack.job(T, jobId);
    expect(job.body).toMatchObject({ status: 'completed', file: { filename: 'kettle.txt', size_bytes: text.length, sha256: sha256(text), kind: 'text' } });

    const found = await run(['query', '--json', "SEARCH 'obsidian kettle' IN resources MODE keyword LIMIT 1"]);
    expect(found.code, found.stderr).toBe(0);
    expect(JSON.parse(found.stdout).results[0].record).toMatchObject({ uri: job.body.file.uri, content: expect.stringContaining('obsidian kettle') });
  });

  it('a refused file and a failing job exit 1 with their errors; the good file of the same command completes', async () => {
    const bin = path.join(tmp.dir, 'blob.bin');
    await fs.writeFile(bin, Buffer.from([0x00, 0x01, 0x02, 0xff, 0xfe, 0x00, 0x7f, 0x80, 0x00, 0x00]));
    const corrupt = path.join(tmp.dir, 'corrupt.pdf');
    await fs.writeFile(corrupt, '%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\nthis is not a real PDF body at all\n%%EOF\n');
    const good = path.join(tmp.dir, 'good.md');
    await fs.writeFile(good, '# Ledger\n\nThe saffron ledger is balanced.\n');
    const r = await run(['upload', bin, corrupt, good]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`percolate: ${bin}: unsupported_media_type: `);
    expect(r.stderr).toMatch(new RegExp(`percolate: ${corrupt.replace(/[.]/g, '\\.')}: job [0-9a-f-]{36} failed in stage parse: .*invalid PDF`));
    expect(r.stderr).toMatch(/good\.md: completed: [1-9]\d* resources/);
    expect(r.stderr).toContain('percolate: 2 of 3 files failed');
    expect(r.stdout.trim().split('\n')).toHaveLength(2); // the ids of the two accepted files

    const alone = await run(['upload', bin]);
    expect(alone.code).toBe(1);
    expect(alone.stdout).toBe('');
    expect(alone.stderr).toMatch(new RegExp(`^(.*\\n)*percolate: ${bin.replace(/[.]/g, '\\.')}: unsupported_media_type: .*supported: `));
  });

  it('--no-wait prints the id only (with a progress line per quarter); jobs ID prints, --json and --follow the job', async () => {
    // 1 MiB of text: four chunks of the body, so the quarters are seen
    const line = 'A tangerine dirigible floated over the harbour of Vellmar at dawn.\n';
    const data = line.repeat(Math.ceil(2 ** 20 / line.length)).slice(0, 2 ** 20);
    const file = path.join(tmp.dir, 'dirigible.txt');
    await fs.writeFile(file, data);
    const up = await run(['upload', '--no-wait', file, '--metadata', '{"project":"cli"}']);
    expect(up.code, up.stderr).toBe(0);
    const jobId = up.stdout.trim();
    expect(up.stdout).toBe(`${jobId}\n`);
    for (const q of [25, 50, 75]) expect(up.stderr).toContain(`dirigible.txt: sent ${q}% `);
    expect(up.stderr).toContain(`dirigible.txt: sent ${2 ** 20} of ${2 ** 20} bytes`);
    expect(up.stderr).not.toContain('completed');

    const follow = await run(['jobs', jobId, '--follow', '--wait-timeout', '50s']);
    expect(follow.code, follow.stderr).toBe(0);
    expect(follow.stderr).toMatch(new RegExp(`job ${jobId}: completed: [1-9]\\d* resources`));
    const [show, json] = await Promise.all([run(['jobs', jobId]), run(['jobs', jobId, '--json'])]);
    expect(show.code, show.stderr).toBe(0);
    const rows = show.stdout.trimEnd().split('\n').map(cells);
    expect(rows.slice(0, 3)).toEqual([['job_id', jobId], ['status', 'completed'], ['progress.stage', 'done']]);
    expect(rows).toContainEqual(['file.sha256', sha256(data)]);
    expect(rows).toContainEqual(['file.size_bytes', String(2 ** 20)]);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual((await stack.job(T, jobId)).body);
    // the metadata field reached the resources
    const res = await stack.node.call('POST', '/api/v1/query', { tenant: T, body: { query: `SELECT metadata.project AS p FROM resources WHERE uri = '${JSON.parse(json.stdout).file.uri}' LIMIT 1` } });
    expect(res.body.rows).toEqual([{ p: 'cli' }]);

    const unknown = await run(['jobs', '00000000-0000-4000-8000-000000000000']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('percolate: not_found: job 00000000-0000-4000-8000-000000000000 not found\n');
  });
});

describe('percolate upload memory', () => {
  it('streams a large file without holding it: the peak RSS stays far below the file size', async () => {
    // 128 MiB, sparse on disk (a text head, then zeros), queued on a tier no worker takes
    const sizeBytes = 128 * 2 ** 20;
    const file = path.join(tmp.dir, 'large.txt');
    await fs.writeFile(file, 'Plain text to begin with.\n'.repeat(40_000)); // 1 MB: past the chunk the gateway detects the type on
    await fs.truncate(file, sizeBytes);
    const child = spawn(process.execPath, [BIN, 'upload', '--no-wait', '--tier', PARKED_TIER, file], { cwd: tmp.dir, env: { ...cleanEnv(), ...stackEnv(), HOME: tmp.dir }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    let code: number | null | undefined;
    child.on('close', (c) => (code = c));
    // VmHWM: the process's peak resident set so far, read until it exits
    let peakKiB = 0;
    await waitFor(
      'the upload to end',
      async () => {
        const status = await fs.readFile(`/proc/${child.pid}/status`, 'utf8').catch(() => '');
        const m = /VmHWM:\s+(\d+) kB/.exec(status);
        if (m) peakKiB = Math.max(peakKiB, Number(m[1]));
        return code !== undefined;
      },
      50_000,
      20,
    );
    expect(code, stderr).toBe(0);
    expect(stderr).toContain(`large.txt: sent ${sizeBytes} of ${sizeBytes} bytes`);
    const jobId = /accepted, job (\S+)/.exec(stderr)![1]!;
    expect((await stack.job(T, jobId)).body).toMatchObject({ status: 'queued', tier: PARKED_TIER, file: { size_bytes: sizeBytes } });
    expect(peakKiB).toBeGreaterThan(0);
    // the command alone (node, tsx, the modules) peaks at about 120 MiB, whatever the size; holding the file would
    // add its 128 (fetch's way: 246 MiB)
    expect(peakKiB * 1024).toBeLessThan(170 * 2 ** 20);
  });
});

describe('usage and connection errors', () => {
  it('no tenant, no job id, no file, a bad option: exit 2 with a message and the usage', async () => {
    const env = { PERCOLATE_API_URL: stack.node.url, PERCOLATE_GATEWAY_URL: stack.gatewayUrl };
    const cases: [string[], string][] = [
      [['query', 'SELECT key FROM entities'], 'a tenant is required: --tenant T or PERCOLATE_TENANT'],
      [['upload', 'x.txt'], 'a tenant is required'],
      [['jobs', '00000000-0000-4000-8000-000000000000'], 'a tenant is required'],
      [['jobs', '--tenant', T], 'a job id is required (the gateway has no route that lists jobs'],
      [['jobs', 'nope', '--tenant', T], "a job id is a lowercase UUID, got 'nope'"],
      [['upload', '--tenant', T], 'at least one FILE is required'],
      [['query', '--tenant', T, '--url', 'ftp://x', 'LOOKUP 1'], "--url must be an http:// or https:// URL, got 'ftp://x'"],
      [['query', '--tenant', T, '--timeout', '5', 'LOOKUP 1'], '--timeout: a duration must be a number with ms, s, m or h'],
      [['query', '--tenant', T, '--params', '{}', 'LOOKUP 1'], '--params must be a JSON array'],
      [['query', '--tenant', T, 'LOOKUP 1', 'LOOKUP 2'], "unexpected argument 'LOOKUP 2'"],
      [['upload', '--tenant', T, '--metadata', '[1]', 'x.txt'], '--metadata must be a JSON object'],
      [['tenant', '--gateway', 'http://x'], "unknown argument '--gateway'"],
    ];
    const results = await Promise.all(cases.map(([args]) => run(args, env)));
    for (const [i, [args, message]] of cases.entries()) {
      const r = results[i]!;
      expect({ args, code: r.code, stdout: r.stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(r.stderr, args.join(' ')).toContain(`percolate: ${message}`);
      expect(r.stderr, args.join(' ')).toContain('usage: percolate');
    }
  });

  it('an unreachable node or gateway is exit 1 naming the URL and npm start; a missing file is exit 1', async () => {
    const port = await freePort();
    const dead = `http://127.0.0.1:${port}`;
    const file = path.join(tmp.dir, 'dead.txt');
    await fs.writeFile(file, 'nobody will read this\n');
    const [q, t, u, j, missing] = await Promise.all([
      run(['query', 'LOOKUP 1'], { PERCOLATE_API_URL: dead, PERCOLATE_TENANT: T }),
      run(['tenant', '--url', dead, '--tenant', T]),
      run(['upload', file, '--gateway', dead, '--tenant', T]),
      run(['jobs', '00000000-0000-4000-8000-000000000000'], { PERCOLATE_GATEWAY_URL: dead, PERCOLATE_TENANT: T }),
      run(['upload', path.join(tmp.dir, 'absent.txt')]),
    ]);
    for (const r of [q, t]) {
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`percolate: cannot reach the database node at ${dead}: connection refused. Is the stack running (\`npm start\`)? Or point --url / PERCOLATE_API_URL at it`);
    }
    for (const r of [u, j]) {
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`percolate: cannot reach the upload gateway at ${dead}: connection refused`);
      expect(r.stderr).toContain('--gateway / PERCOLATE_GATEWAY_URL');
    }
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`percolate: ${path.join(tmp.dir, 'absent.txt')}: no such file\n`);
  });

  it('a node that does not answer in time is exit 1 naming --timeout', async () => {
    // a listener that accepts and never answers
    const net = await import('node:net');
    const sockets: import('node:net').Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const r = await run(['query', '--timeout', '300ms', 'LOOKUP 1'], { PERCOLATE_API_URL: `http://127.0.0.1:${port}`, PERCOLATE_TENANT: T });
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`percolate: no answer from the database node at http://127.0.0.1:${port} within 300 ms (--timeout sets how long to wait)\n`);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('help lists the new commands', async () => {
    const r = await run(['--help'], {});
    expect(r.code).toBe(0);
    for (const c of ['query', 'upload', 'jobs', 'tenant']) expect(r.stdout).toMatch(new RegExp(`^  ${c} +\\S`, 'm'));
    const q = await run(['query', '--help'], {});
    expect(q.code).toBe(0);
    expect(q.stdout).toContain('PERCOLATE_API_URL');
  });
});

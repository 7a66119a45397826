// What the commands that talk to the services share (query, tenant: the database node; upload, jobs: the upload
// gateway): where they are and as whom (flags, else the environment), one HTTP call with a bounded wait and a
// bounded answer, and the failures said plainly: the server's error envelope as `<code>: <message>`, a refused
// connection naming the URL and `npm start`, a timeout naming the flag that sets it.
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TENANT_ID_PATTERN } from '../../shared/rem/tenant-id.js';
import { CommandError, UsageError } from './common.js';

export const DEFAULT_API_URL = 'http://127.0.0.1:8080';
export const DEFAULT_GATEWAY_URL = 'http://127.0.0.1:8081';
export const DEFAULT_TIMEOUT = '30s';
/** An answer larger than this is not read (the node's own bound on a query answer is far below). */
export const ANSWER_BYTES_MAX = 64 * 2 ** 20;

export type Service = 'api' | 'gateway';

const SERVICES: Record<Service, { what: string; flag: string; variable: string }> = {
  api: { what: 'the database node', flag: '--url', variable: 'PERCOLATE_API_URL' },
  gateway: { what: 'the upload gateway', flag: '--gateway', variable: 'PERCOLATE_GATEWAY_URL' },
};

/** The usage lines of the connection options, for a command's usage text. */
export function connectionUsage(service: Service): string {
  const url =
    service === 'api'
      ? `  --url URL      the database node (default: PERCOLATE_API_URL, else ${DEFAULT_API_URL})`
      : `  --gateway URL  the upload gateway (default: PERCOLATE_GATEWAY_URL, else ${DEFAULT_GATEWAY_URL})`;
  return [
    url,
    '  --tenant T     the tenant (default: PERCOLATE_TENANT; one of the two is required)',
    '  --token TOKEN  the bearer token (default: PERCOLATE_API_TOKEN; none: no Authorization header, for a stack',
    '                 started with PERCOLATE_AUTH=off)',
    `  --timeout D    how long one request may wait for an answer: a number with ms, s, m or h (default ${DEFAULT_TIMEOUT})`,
  ].join('\n');
}

export const CONNECTION_OPTIONS = ['url', 'gateway', 'tenant', 'token', 'timeout'] as const;

export interface Remote {
  service: Service;
  /** Without a trailing slash. */
  baseUrl: string;
  tenant: string;
  token: string | undefined;
  timeoutMs: number;
}

/** `250ms`, `30s`, `5m`, `1h` in milliseconds; anything else is an Error with the reason. */
export function parseDurationMs(text: string): number {
  const m = /^(\d{1,9})(ms|s|m|h)$/.exec(text);
  if (!m) throw new Error(`a duration must be a number with ms, s, m or h (e.g. 30s), got '${text}'`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}

/** A duration option: between 1 ms and a day, else a UsageError naming the option. */
export function durationOption(name: string, text: string, usage: string): number {
  let ms: number;
  try {
    ms = parseDurationMs(text);
  } catch (err) {
    throw new UsageError(`--${name}: ${(err as Error).message}`, usage);
  }
  if (ms <= 0 || ms > 86_400_000) throw new UsageError(`--${name} must be between 1ms and 24h, got '${text}'`, usage);
  return ms;
}

/** Where to send the requests of `service` and as whom: the flags, else the environment, else the defaults. */
export function remoteOf(
  service: Service,
  values: Partial<Record<(typeof CONNECTION_OPTIONS)[number], string>>,
  env: NodeJS.ProcessEnv,
  usage: string,
): Remote {
  const s = SERVICES[service];
  const given = service === 'api' ? values.url : values.gateway;
  // the defaults written out (= DEFAULT_API_URL, DEFAULT_GATEWAY_URL) so test/config-docs.test.ts checks the README's
  const fromEnv = service === 'api' ? env.PERCOLATE_API_URL || 'http://127.0.0.1:8080' : env.PERCOLATE_GATEWAY_URL || 'http://127.0.0.1:8081';
  const raw = given ?? fromEnv;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    url = new URL('invalid:');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`${given !== undefined ? s.flag : s.variable} must be an http:// or https:// URL, got '${raw}'`, usage);
  }
  const tenant = values.tenant ?? env.PERCOLATE_TENANT;
  if (tenant === undefined || tenant === '') throw new UsageError('a tenant is required: --tenant T or PERCOLATE_TENANT', usage);
  if (!TENANT_ID_PATTERN.test(tenant)) throw new UsageError(`the tenant must be a tenant id (${TENANT_ID_PATTERN.source}), got '${tenant}'`, usage);
  // the token alone, as PERCOLATE_API_TOKEN is for the worker; a pasted `Bearer ...` is forgiven
  const token = (values.token ?? env.PERCOLATE_API_TOKEN)?.replace(/^Bearer\s+/i, '') || undefined;
  const timeoutMs = durationOption('timeout', values.timeout ?? DEFAULT_TIMEOUT, usage);
  return { service, baseUrl: url.href.replace(/\/+$/, ''), tenant, token, timeoutMs };
}

export function headersOf(remote: Remote, extra: Record<string, string> = {}): Record<string, string> {
  return { 'x-tenant-id': remote.tenant, accept: 'application/json', ...(remote.token ? { authorization: `Bearer ${remote.token}` } : {}), ...extra };
}

/** No answer at all (refused, unknown host, reset, timed out): nothing else will get one either. */
export class UnreachableError extends CommandError {
  constructor(message: string) {
    super(message);
    this.name = 'UnreachableError';
  }
}

/** The error of a request that got no answer: refused, unknown host, reset, timed out (fetch's or node:http's). */
export function unreachable(remote: Remote, err: unknown): UnreachableError {
  const s = SERVICES[remote.service];
  const e = err as Error & { code?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || (e?.name === 'AbortError' && (e.cause as Error | undefined)?.name === 'TimeoutError')) {
    return new UnreachableError(`no answer from ${s.what} at ${remote.baseUrl} within ${remote.timeoutMs} ms (--timeout sets how long to wait)`);
  }
  // fetch wraps the socket's error (cause), node:http does not
  const code = e?.cause?.code ?? e?.code;
  const where = `${s.what} at ${remote.baseUrl}`;
  if (code === 'ECONNREFUSED') {
    return new UnreachableError(`cannot reach ${where}: connection refused. Is the stack running (\`npm start\`)? Or point ${s.flag} / ${s.variable} at it`);
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new UnreachableError(`cannot reach ${where}: unknown host (${code}); check ${s.flag} / ${s.variable}`);
  const reason = e?.cause?.message ?? e?.message ?? String(err);
  return new UnreachableError(`cannot reach ${where}: ${code ? `${code} ` : ''}${reason}`);
}

export interface Answer {
  status: number;
  /** The answer as sent (decompressed), for --json. */
  text: string;
  /** Parsed JSON, or undefined when the answer is not JSON. */
  body: unknown;
}

/** Reads an answer's body, at most ANSWER_BYTES_MAX bytes. */
async function readText(body: AsyncIterable<Uint8Array>, remote: Remote, cancel: () => void): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of body) {
    bytes += chunk.length;
    if (bytes > ANSWER_BYTES_MAX) {
      cancel();
      throw new CommandError(`the answer of ${SERVICES[remote.service].what} is larger than ${ANSWER_BYTES_MAX} bytes; narrow the request (LIMIT)`);
    }
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks).toString('utf8');
}

function answerOf(status: number, text: string): Answer {
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status, text, body: parsed };
}

/** The server's error envelope {"error":{"code","message"}} as a CommandError `<code>: <message>`. */
export function answerError(remote: Remote, answer: Answer): CommandError {
  const e = (answer.body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  if (e && typeof e.code === 'string' && typeof e.message === 'string') {
    // a refused or missing token: say where the command takes one from
    const hint = answer.status === 401 ? ` (the token: --token or PERCOLATE_API_TOKEN; mint one with \`npx percolate token\`)` : '';
    return new CommandError(`${e.code}: ${e.message}${hint}`);
  }
  const text = answer.text.trim().slice(0, 200);
  return new CommandError(`${SERVICES[remote.service].what} at ${remote.baseUrl} answered ${answer.status}${text ? `: ${text}` : ''}`);
}

/**
 * One request with the tenant and token (fetch, JSON); resolves with the answer of a 2xx, throws the server's error
 * (a CommandError `<code>: <message>`) otherwise, or a CommandError saying why no answer came.
 */
export async function call(remote: Remote, method: string, path: string, init: { json?: unknown } = {}): Promise<Answer> {
  const headers = headersOf(remote);
  let body: string | undefined;
  if (init.json !== undefined) {
    body = JSON.stringify(init.json);
    headers['content-type'] = 'application/json';
  }
  const signal = AbortSignal.timeout(remote.timeoutMs);
  let answer: Answer;
  try {
    const res = await fetch(remote.baseUrl + path, { method, headers, body, signal });
    answer = answerOf(res.status, res.body ? await readText(res.body as unknown as AsyncIterable<Uint8Array>, remote, () => void res.body!.cancel().catch(() => undefined)) : '');
  } catch (err) {
    if (err instanceof CommandError) throw err;
    throw unreachable(remote, signal.aborted ? signal.reason : err);
  }
  if (answer.status < 200 || answer.status > 299) throw answerError(remote, answer);
  return answer;
}

/**
 * A POST of a streamed body through node:http(s), not fetch: Node 20's fetch keeps every chunk of a streamed request
 * body in memory until the request ends (a 500 MiB upload held 500 MiB), node:http lets each go once the socket took
 * it, and waits for the socket to drain before it takes more. `signal` bounds the wait (the caller's idle timer).
 */
export async function postStream(remote: Remote, path: string, headers: Record<string, string>, body: Readable, signal: AbortSignal): Promise<Answer> {
  const url = new URL(remote.baseUrl + path);
  const request = url.protocol === 'https:' ? https.request : http.request;
  let answer: Answer;
  try {
    answer = await new Promise<Answer>((resolve, reject) => {
      const req = request(url, { method: 'POST', headers: headersOf(remote, headers), signal });
      req.on('response', (res) => {
        readText(res, remote, () => res.destroy()).then((text) => resolve(answerOf(res.statusCode ?? 0, text)), reject);
      });
      req.on('error', reject);
      // an error of the body (the file) ends the request with it; an answer that came early still wins (resolve first)
      pipeline(body, req).catch(reject);
    });
  } catch (err) {
    if (err instanceof CommandError) throw err;
    throw unreachable(remote, signal.aborted ? signal.reason : err);
  }
  if (answer.status < 200 || answer.status > 299) throw answerError(remote, answer);
  return answer;
}

// The typed client of a Percolate-TS database node: `import { PercolateClient } from 'percolate-ts/client'`.
// One method per route of the node (the OpenAPI document's operations), the tenant and the token as options, errors
// as PercolateError carrying the envelope's code, and retries only where they are safe: a request the node refused
// before doing anything (429 rate_limited, 503 overloaded / tenant_unavailable / not_ready) is retried after its
// Retry-After; a read is also retried after 502/504 and network failures; nothing else is. Its request and answer
// types are the static types of the node's route schemas (services/api/schemas.ts and responses.ts, TypeBox): the
// schemas that validate the requests, serialise the answers and make the OpenAPI document, imported as types only.
import { parseSse, type SseEvent } from '../shared/chat/sse.js';
import { abortableSleep, retry, RetryExhaustedError } from '../shared/rem/retry.js';
import type { ErrorEnvelope } from '../shared/http/openapi.js';
import type * as R from '../services/api/responses.js';
import type {
  completionBody,
  EntityInput,
  KINDS,
  MomentInput,
  NativeChatMessage,
  QueryBody,
  ResourceInput,
  Schemas,
  SchemaPutBody,
  SEARCH_MODES,
  Sent,
  tenantListQuery,
} from '../services/api/schemas.js';

export type {
  Citation,
  CompletionJson as ChatCompletion,
  DigestAnswer,
  DrainAnswer,
  Edge,
  Entity,
  EntityAnswer,
  EntityResult,
  EntitySchema,
  GraphEdge,
  LiveAnswer,
  ModelList,
  MomentPage,
  Moment,
  Neighborhood,
  Operation,
  OperationStarted,
  QueryAnswer,
  ReadyAnswer,
  Resource,
  ResourceHit,
  ResourcePage,
  ResourceSearch,
  SchemaList,
  SchemaPut,
  SearchAnswer,
  SearchHit,
  SyncAnswer,
  TenantInfo,
  TenantListing,
} from '../services/api/responses.js';
export type { EntityInput, MomentInput, ResourceInput, SchemaPutBody, SearchFilters } from '../services/api/schemas.js';
export type { ErrorEnvelope };

export type RemKind = (typeof KINDS)[number];
export type SearchMode = (typeof SEARCH_MODES)[number];
/** An edge's target: an entity id, or its type and key. */
export type EntityRef = NonNullable<EntityInput['edges']>[number]['to'];
/** The answer of a write: the ids written, in input order. */
export type WriteResult = R.Written;
/** POST /api/v1/search without the query text. */
export type SearchOptions = Omit<Sent<Schemas['searchBody']>, 'query'>;
export type ResourceSearchOptions = Pick<Sent<Schemas['resourceQuery']>, 'limit' | 'mode' | 'uri_prefix'>;
export type ResourceListOptions = Pick<Sent<Schemas['resourceQuery']>, 'limit' | 'uri_prefix' | 'cursor'>;
export type NeighborOptions = Sent<Schemas['neighborQuery']>;
export type MomentListOptions = Sent<Schemas['momentQuery']>;
export type TenantListOptions = Sent<typeof tenantListQuery>;
export type QueryParams = NonNullable<QueryBody['params']>;
/** POST /v1/chat/completions as JSON (stream: false; for streamed chunks use an OpenAI SDK with baseURL <node>/v1). */
export type ChatCompletionRequest = Omit<Sent<typeof completionBody>, 'stream' | 'stream_options'>;
export type ChatMessage = NativeChatMessage;
export type ChatAnswer = R.ChatJson;

export interface ClientOptions {
  /** The node's base URL, e.g. http://127.0.0.1:8080. */
  url: string;
  /** X-Tenant-ID of every tenant-scoped call (`withTenant` gives a client for another). */
  tenant?: string;
  /** A bearer token (`percolate token ...`); none with PERCOLATE_AUTH=off. */
  token?: string;
  /** Retries of a retriable failure (default 2). */
  retries?: number;
  /** The longest wait between two attempts, whatever Retry-After says (default 30 s). */
  retryDelayMsMax?: number;
  /** Each attempt's timeout (default 60 s: chat with a model takes seconds). */
  timeoutMs?: number;
  /** Extra headers of every request (X-Session-Id, tracing). */
  headers?: Record<string, string>;
  fetch?: typeof fetch;
}

/** A refused or failed call: the HTTP status, the envelope's code and message, and its details. */
export class PercolateError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    /** Seconds the node asked to wait (Retry-After), when it did. */
    readonly retryAfterS?: number,
  ) {
    super(message);
    this.name = 'PercolateError';
  }
}

export type ChatEvent = { event: 'delta'; content: string } | { event: 'done'; answer: ChatAnswer } | { event: 'error'; error: PercolateError };

type Query = Record<string, string | number | boolean | undefined>;

interface Call {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  query?: Query;
  body?: unknown;
  /** Omit X-Tenant-ID (admin and health routes). */
  noTenant?: boolean;
  headers?: Record<string, string>;
}

const RETRY_ALWAYS = new Set([429, 503]);
const RETRY_READS = new Set([502, 504]);


export class PercolateClient {
  private readonly base: string;
  private readonly doFetch: typeof fetch;

  constructor(readonly options: ClientOptions) {
    if (!/^https?:\/\//.test(options.url)) throw new TypeError(`PercolateClient: url must be an http(s) URL, got '${options.url}'`);
    this.base = options.url.replace(/\/+$/, '');
    this.doFetch = options.fetch ?? fetch;
  }

  /** The same client for another tenant. */
  withTenant(tenant: string): PercolateClient {
    return new PercolateClient({ ...this.options, tenant });
  }

  // ------------------------------------------------------------------------------------------------ transport

  private headers(c: Call): Record<string, string> {
    const h: Record<string, string> = { accept: 'application/json', ...(this.options.headers ?? {}), ...(c.headers ?? {}) };
    if (c.body !== undefined) h['content-type'] = 'application/json';
    if (this.options.token) h.authorization = `Bearer ${this.options.token}`;
    if (!c.noTenant) {
      if (!this.options.tenant) throw new TypeError(`PercolateClient: ${c.method} ${c.path} needs a tenant (options.tenant or withTenant)`);
      h['x-tenant-id'] = this.options.tenant;
    }
    return h;
  }

  private url(c: Call): string {
    const q = Object.entries(c.query ?? {}).filter(([, v]) => v !== undefined);
    return this.base + c.path + (q.length ? `?${new URLSearchParams(q.map(([k, v]): [string, string] => [k, String(v)]))}` : '');
  }

  /** One call with retries; resolves with the response (ok), throws PercolateError otherwise. */
  private async send(c: Call, accept?: string): Promise<Response> {
    const delayMax = this.options.retryDelayMsMax ?? 30_000;
    const read = c.method === 'GET';
    const once = async (): Promise<Response> => {
      let res: Response;
      try {
        res = await this.doFetch(this.url(c), {
          method: c.method,
          headers: { ...this.headers(c), ...(accept ? { accept } : {}) },
          body: c.body === undefined ? undefined : JSON.stringify(c.body),
          signal: AbortSignal.timeout(this.options.timeoutMs ?? 60_000),
        });
      } catch (err) {
        if (err instanceof TypeError && err.message.startsWith('PercolateClient')) throw err;
        throw new PercolateError(0, 'network_error', `${c.method} ${this.base}${c.path}: ${(err as Error).message}`);
      }
      if (res.ok) return res;
      throw await errorOf(res);
    };
    try {
      return await retry(once, {
        attempts: (this.options.retries ?? 2) + 1,
        initialMs: 250,
        maxMs: delayMax,
        // a network failure may have applied a write, so only a read is tried again after one
        retryable: (e) =>
          e instanceof PercolateError && (RETRY_ALWAYS.has(e.status) || (read && (RETRY_READS.has(e.status) || e.code === 'network_error'))),
        delayOf: (e) => (e instanceof PercolateError && e.retryAfterS !== undefined ? Math.min(delayMax, e.retryAfterS * 1000) : undefined),
      });
    } catch (err) {
      // the last answer, not the loop's summary: callers catch PercolateError
      throw err instanceof RetryExhaustedError ? err.cause : err;
    }
  }

  private async json<T>(c: Call): Promise<T> {
    const res = await this.send(c);
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  }

  // ------------------------------------------------------------------------------------------------ records

  readonly resources = {
    put: (inputs: ResourceInput | ResourceInput[]) => this.json<WriteResult>({ method: 'POST', path: '/api/v1/resources', body: { resources: arrayOf(inputs) } }),
    get: (id: string) => this.json<R.Resource>({ method: 'GET', path: `/api/v1/resources/${encodeURIComponent(id)}` }),
    delete: (id: string) => this.json<void>({ method: 'DELETE', path: `/api/v1/resources/${encodeURIComponent(id)}` }),
    /** Ranked by `query` (the resource's fields and its score). */
    search: (query: string, o: ResourceSearchOptions = {}) => this.json<R.ResourceSearch>({ method: 'GET', path: '/api/v1/resources', query: { query, ...o } }),
    /** Without a query: listed in uri order (`cursor` pages on). */
    list: (o: ResourceListOptions = {}) => this.json<R.ResourcePage>({ method: 'GET', path: '/api/v1/resources', query: o }),
  };

  readonly entities = {
    put: (inputs: EntityInput | EntityInput[]) => this.json<WriteResult>({ method: 'POST', path: '/api/v1/entities', body: { entities: arrayOf(inputs) } }),
    get: (id: string) => this.json<R.Entity>({ method: 'GET', path: `/api/v1/entities/${encodeURIComponent(id)}` }),
    delete: (id: string) => this.json<void>({ method: 'DELETE', path: `/api/v1/entities/${encodeURIComponent(id)}` }),
    lookup: (key: string, o: Pick<Sent<Schemas['entityQuery']>, 'type' | 'limit'> = {}) =>
      this.json<R.EntityAnswer>({ method: 'GET', path: '/api/v1/entities', query: { key, ...o } }),
    /** Each result with its score, match and matched. */
    fuzzy: (text: string, o: Pick<Sent<Schemas['entityQuery']>, 'threshold' | 'limit'> = {}) =>
      this.json<R.EntityAnswer>({ method: 'GET', path: '/api/v1/entities', query: { fuzzy: text, ...o } }),
    neighbors: (id: string, o: NeighborOptions = {}) =>
      this.json<R.Neighborhood>({ method: 'GET', path: `/api/v1/entities/${encodeURIComponent(id)}/neighbors`, query: o }),
  };

  readonly moments = {
    put: (inputs: MomentInput | MomentInput[]) => this.json<WriteResult>({ method: 'POST', path: '/api/v1/moments', body: { moments: arrayOf(inputs) } }),
    get: (id: string) => this.json<R.Moment>({ method: 'GET', path: `/api/v1/moments/${encodeURIComponent(id)}` }),
    delete: (id: string) => this.json<void>({ method: 'DELETE', path: `/api/v1/moments/${encodeURIComponent(id)}` }),
    list: (o: MomentListOptions = {}) => this.json<R.MomentPage>({ method: 'GET', path: '/api/v1/moments', query: o }),
  };

  // ------------------------------------------------------------------------------------------------ reading

  search(query: string | undefined, o: SearchOptions = {}): Promise<R.SearchAnswer> {
    return this.json<R.SearchAnswer>({ method: 'POST', path: '/api/v1/search', body: { ...(query !== undefined ? { query } : {}), ...o } });
  }

  /** One statement of the REM dialect (LOOKUP, FUZZY, SEARCH, TRAVERSE, SELECT, EXPLAIN) with `$1`.. parameters. */
  query(statement: string, params?: QueryParams): Promise<R.QueryAnswer> {
    return this.json<R.QueryAnswer>({ method: 'POST', path: '/api/v1/query', body: { query: statement, ...(params ? { params } : {}) } });
  }

  chat(messages: ChatMessage[], o: { limit?: number } = {}): Promise<ChatAnswer> {
    return this.json<ChatAnswer>({ method: 'POST', path: '/api/v1/chat', body: { messages, ...o } });
  }

  /** The answer as it is produced: `delta` events, then `done` (or `error` if the provider fails mid-answer). */
  async *chatStream(messages: ChatMessage[], o: { limit?: number } = {}): AsyncIterable<ChatEvent> {
    const res = await this.send({ method: 'POST', path: '/api/v1/chat', body: { messages, stream: true, ...o } }, 'text/event-stream');
    for await (const ev of sseEvents(res)) {
      const data = JSON.parse(ev.data) as Record<string, unknown>;
      if (ev.event === 'delta') yield { event: 'delta', content: String(data.content ?? '') };
      else if (ev.event === 'done') yield { event: 'done', answer: data as unknown as ChatAnswer };
      else if (ev.event === 'error') {
        const e = (data as Partial<ErrorEnvelope>).error;
        yield { event: 'error', error: new PercolateError(502, e?.code ?? 'stream_error', e?.message ?? 'the stream failed') };
      }
    }
  }

  /** The OpenAI-compatible routes under /v1 (the same tenant and token). */
  readonly openai = {
    models: () => this.json<R.ModelList>({ method: 'GET', path: '/v1/models' }),
    /** A whole chat.completion; streamed chunks are for an OpenAI SDK pointed at `<url>/v1`. */
    chatCompletion: (request: ChatCompletionRequest) => this.json<R.CompletionJson>({ method: 'POST', path: '/v1/chat/completions', body: { ...request, stream: false } }),
  };

  // ------------------------------------------------------------------------------------------------ schemas

  readonly schemas = {
    /** Adds or replaces the schema of an entity type (answered 201 when added, 200 when replaced). */
    put: (type: string, definition: SchemaPutBody) => this.json<R.SchemaPut>({ method: 'PUT', path: `/api/v1/schemas/${encodeURIComponent(type)}`, body: definition }),
    get: (type: string) => this.json<R.EntitySchema>({ method: 'GET', path: `/api/v1/schemas/${encodeURIComponent(type)}` }),
    list: () => this.json<R.SchemaList>({ method: 'GET', path: '/api/v1/schemas' }),
    delete: (type: string) => this.json<void>({ method: 'DELETE', path: `/api/v1/schemas/${encodeURIComponent(type)}` }),
  };

  // ------------------------------------------------------------------------------------------------ tenant

  readonly tenant = {
    info: () => this.json<R.TenantInfo>({ method: 'GET', path: '/api/v1/tenant' }),
    digest: () => this.json<R.DigestAnswer>({ method: 'GET', path: '/api/v1/tenant/digest' }),
    snapshot: () => this.json<R.OperationStarted>({ method: 'POST', path: '/api/v1/tenant/snapshot' }),
    offload: () => this.json<R.OperationStarted>({ method: 'POST', path: '/api/v1/tenant/offload' }),
    restore: () => this.json<R.OperationStarted>({ method: 'POST', path: '/api/v1/tenant/restore' }),
    pin: () => this.json<R.OperationStarted>({ method: 'POST', path: '/api/v1/tenant/pin' }),
    unpin: () => this.json<R.OperationStarted>({ method: 'POST', path: '/api/v1/tenant/unpin' }),
    /** Removes the tenant from every node, S3 and the stream (an admin token). */
    purge: () => this.json<R.OperationStarted>({ method: 'DELETE', path: '/api/v1/tenant' }),
    operation: (id: string) => this.json<R.Operation>({ method: 'GET', path: `/api/v1/operations/${encodeURIComponent(id)}` }),
    /** Polls an operation until it completed or failed (or `timeoutMs` passed: a PercolateError timeout). */
    waitOperation: async (id: string, o: { timeoutMs?: number; everyMs?: number } = {}) => {
      const deadline = Date.now() + (o.timeoutMs ?? 120_000);
      for (;;) {
        const op = await this.tenant.operation(id);
        if (op.status === 'completed' || op.status === 'failed') return op;
        if (Date.now() > deadline) throw new PercolateError(0, 'timeout', `operation ${id} still ${op.status} after ${o.timeoutMs ?? 120_000} ms`);
        await abortableSleep(o.everyMs ?? 200);
      }
    },
  };

  /** Replication ops (repair, bootstrap): an admin or node token. */
  sync(ops: Sent<Schemas['syncBody']>['ops']): Promise<R.SyncAnswer> {
    return this.json<R.SyncAnswer>({ method: 'POST', path: '/api/v1/sync', body: { ops } });
  }

  readonly admin = {
    tenants: (o: TenantListOptions = {}) => this.json<R.TenantListing>({ method: 'GET', path: '/api/v1/admin/tenants', query: o, noTenant: true }),
  };

  readonly health = {
    live: () => this.json<R.LiveAnswer>({ method: 'GET', path: '/health/live', noTenant: true }),
    ready: () => this.json<R.ReadyAnswer>({ method: 'GET', path: '/health/ready', noTenant: true }),
    /** The preStop drain: `token` is the node's <data dir>/drain.token. The node stops being ready. */
    drain: (token: string) => this.json<R.DrainAnswer>({ method: 'POST', path: '/health/drain', noTenant: true, headers: { 'x-drain-token': token } }),
  };

  /** Prometheus metrics in the text exposition format (an admin token with PERCOLATE_METRICS_AUTH=true). */
  async metrics(): Promise<string> {
    return (await this.send({ method: 'GET', path: '/metrics', noTenant: true }, 'text/plain')).text();
  }
}

function arrayOf<T>(v: T | T[]): T[] {
  return Array.isArray(v) ? v : [v];
}

async function errorOf(res: Response): Promise<PercolateError> {
  const text = await res.text().catch(() => '');
  let code = `http_${res.status}`;
  let message = text.slice(0, 500) || res.statusText;
  let details: unknown;
  try {
    const body = JSON.parse(text) as Partial<ErrorEnvelope>;
    if (body.error?.code) ({ code, message = message, details } = body.error);
  } catch {
    /* not the envelope: keep the status and the text */
  }
  const after = Number(res.headers.get('retry-after'));
  return new PercolateError(res.status, code, message, details, Number.isFinite(after) && after >= 0 && res.headers.has('retry-after') ? after : undefined);
}

/** Server-Sent Events of a response body (the parser the node's own provider uses, with its bound per event). */
function sseEvents(res: Response): AsyncIterable<SseEvent> {
  return res.body ? parseSse(res.body as unknown as AsyncIterable<Uint8Array>) : (async function* () {})();
}

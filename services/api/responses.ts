// The database node's answers, written once with TypeBox: documented in its OpenAPI document (GET /openapi.json),
// serialised through them (fast-json-stringify), typing what the handlers return and what the typed client reads
// (client/index.ts, type-only). They describe the answers exactly: objects list every field the engine returns and
// admit no other (additionalProperties false), except where an answer is open by nature: a record's metadata and
// properties, a query's plan and SELECT rows, a model's usage. A field missing here would be dropped by the
// serialiser from small answers (large ones are serialised in slices, shared/http/sliced-json.ts, and keep it), and
// test/openapi.test.ts checks real answers of every route against these schemas: an engine field added without its
// schema fails there. Nothing here imports fastify: the module is schemas and types only.
import { Type, type Static, type TSchema } from 'typebox';
import { FreeMap } from './schemas.js';

// ------------------------------------------------------------------------------------------------ building blocks

/** `schema` or null. */
function Nullable<T extends TSchema>(schema: T) {
  return Type.Union([schema, Type.Null()]);
}

/** `Type.Object` of an answer: every listed field, no other. */
function Answer<P extends Parameters<typeof Type.Object>[0]>(properties: P, description?: string) {
  return Type.Object(properties, { additionalProperties: false, ...(description ? { description } : {}) });
}

const TIMESTAMP = Type.String({ description: 'RFC 3339 time' });
const RECORD_ID = Type.String({ description: '32 hex characters' });
const TOOK_MS = Type.Number({ description: 'time spent answering, in milliseconds' });
const TRUNCATED = Type.Boolean({ description: 'the answer stopped at a bound (see `bound`); ask again with a smaller limit or a cursor' });
const BOUND = Type.String({ description: 'the bound that stopped the answer: response_bytes_max, or a query, traversal or scan bound' });
const NEXT_CURSOR = Nullable(Type.String({ description: 'continues after the last record of this page; null at the end' }));
const KIND = Type.Enum(['resources', 'entities', 'moments'], { type: 'string' });
const COUNTS_WITH_TOMBSTONES = Answer({ resources: Type.Integer(), entities: Type.Integer(), moments: Type.Integer(), tombstones: Type.Integer() });
const COUNTS_ANY = Type.Object(
  { resources: Type.Integer(), entities: Type.Integer(), moments: Type.Integer(), tombstones: Type.Optional(Type.Integer()) },
  { additionalProperties: false },
);

// ------------------------------------------------------------------------------------------------ records

const resourceFields = {
  id: RECORD_ID,
  uri: Type.String(),
  name: Type.String(),
  content: Type.String(),
  chunk_ordinal: Type.Integer(),
  metadata: FreeMap(),
};
export const resource = Answer(
  { ...resourceFields, source: Type.Optional(FreeMap({ description: 'where it came from (an ingested file, its job)' })), created_at: TIMESTAMP, updated_at: TIMESTAMP },
  'a resource (README, Data model)',
);

export const edge = Answer({ rel: Type.String(), to: RECORD_ID, properties: FreeMap(), weight: Type.Number(), updated_at: TIMESTAMP }, "an edge of an entity, to the target entity's id");

const entityFields = {
  id: RECORD_ID,
  type: Type.String(),
  key: Type.String(),
  name: Type.String(),
  aliases: Type.Array(Type.String()),
  properties: FreeMap(),
  edges: Type.Array(edge),
  created_at: TIMESTAMP,
  updated_at: TIMESTAMP,
};
export const entity = Answer(entityFields, 'an entity (README, Data model)');

export const moment = Answer(
  {
    id: RECORD_ID,
    name: Type.String(),
    summary: Type.String(),
    moment_type: Type.String(),
    start_time: TIMESTAMP,
    end_time: Nullable(TIMESTAMP),
    tags: Type.Array(Type.String()),
    people: Type.Array(Type.String()),
    resource_ids: Type.Array(Type.String()),
    entity_ids: Type.Array(Type.String()),
    metadata: FreeMap(),
    created_at: TIMESTAMP,
    updated_at: TIMESTAMP,
  },
  'a moment (README, Data model)',
);

export const remRecord = Type.Union([resource, entity, moment]);

/** An entity as LOOKUP, FUZZY and TRAVERSE answer it: FUZZY adds score, match and matched, TRAVERSE its depth. */
export const entityResult = Answer(
  {
    ...entityFields,
    score: Type.Optional(Type.Number({ description: 'fuzzy match score in (0, 1]' })),
    match: Type.Optional(Type.Enum(['exact', 'prefix', 'fuzzy'], { type: 'string' })),
    matched: Type.Optional(Type.String({ description: 'the key, name or alias that matched' })),
    depth: Type.Optional(Type.Integer({ description: 'hops from the start of a traversal' })),
  },
  'an entity; fuzzy matches add score, match and matched, traversals depth',
);

export const graphEdge = Answer({ from: RECORD_ID, rel: Type.String(), to: RECORD_ID, weight: Type.Number(), properties: Type.Optional(FreeMap()) });

// ------------------------------------------------------------------------------------------------ writes

export const written = Answer({ ids: Type.Array(RECORD_ID), count: Type.Integer() }, 'the ids written, in input order');

export const noContent = Type.Null({ description: 'done; no body' });

// ------------------------------------------------------------------------------------------------ reads

export const searchHit = Answer({ kind: KIND, id: RECORD_ID, score: Type.Number(), record: remRecord });

export const searchAnswer = Answer({ results: Type.Array(searchHit), mode: Type.String(), truncated: Type.Optional(TRUNCATED), bound: Type.Optional(BOUND), took_ms: TOOK_MS });

/** GET /resources with `query`: the resource's own fields and the score, not its times or source. */
export const resourceHit = Answer({ ...resourceFields, score: Type.Number() });

export const resourcePage = Answer(
  { results: Type.Array(resource), next_cursor: NEXT_CURSOR, truncated: Type.Optional(TRUNCATED), bound: Type.Optional(BOUND), took_ms: TOOK_MS },
  'without query: resources in uri order',
);
export const resourceSearch = Answer(
  { results: Type.Array(resourceHit), mode: Type.String(), truncated: Type.Optional(TRUNCATED), bound: Type.Optional(BOUND), took_ms: TOOK_MS },
  'with query: ranked resources',
);
export const resourceAnswer = Type.Union([resourcePage, resourceSearch], { description: 'a page of resources in uri order, or ranked resources with query' });

export const entityAnswer = Answer(
  { results: Type.Array(entityResult), truncated: Type.Optional(TRUNCATED), bound: Type.Optional(BOUND), took_ms: TOOK_MS },
  'entities by key, or fuzzy matches with their score',
);

export const neighborhood = Answer(
  {
    nodes: Type.Array(entityResult),
    edges: Type.Array(graphEdge),
    truncated: TRUNCATED,
    bound: Type.Optional(BOUND),
    took_ms: TOOK_MS,
  },
  'the entities reached (with their depth) and the edges between them',
);

export const momentPage = Answer(
  { results: Type.Array(moment), next_cursor: NEXT_CURSOR, truncated: TRUNCATED, bound: Type.Optional(BOUND), took_ms: TOOK_MS },
  'moments newest first',
);

export const queryStats = Answer({ index_entries_read: Type.Integer(), records_read: Type.Integer(), rows_scanned: Type.Integer(), rows_matched: Type.Integer() });

export const queryAnswer = Answer(
  {
    rows: Type.Optional(Type.Array(FreeMap(), { description: 'SELECT: the projected rows' })),
    results: Type.Optional(Type.Array(Type.Union([searchHit, entityResult]), { description: 'LOOKUP, FUZZY and TRAVERSE: entities; SEARCH: hits' })),
    edges: Type.Optional(Type.Array(graphEdge, { description: 'TRAVERSE: the edges between the nodes' })),
    plan: FreeMap({ description: 'the plan, as EXPLAIN shows it' }),
    stats: Type.Optional(queryStats),
    truncated: Type.Optional(TRUNCATED),
    bound: Type.Optional(BOUND),
    took_ms: TOOK_MS,
  },
  'rows or results, the plan and its counters (EXPLAIN: the plan only)',
);

// ------------------------------------------------------------------------------------------------ schemas

export const entitySchema = Answer(
  {
    type: Type.String(),
    schema: FreeMap({ description: 'JSON Schema of the entity properties' }),
    key_field: Nullable(Type.String()),
    indexed_fields: Type.Array(Type.String()),
    embedding_fields: Type.Array(Type.String()),
    created_at: TIMESTAMP,
    updated_at: TIMESTAMP,
  },
  'the schema of an entity type',
);

const violation = Answer({ path: Type.String(), message: Type.String(), keyword: Type.String() });

export const schemaPut = Answer(
  {
    ...entitySchema.properties,
    indexed: Type.Integer({ description: 'existing entities of the type indexed' }),
    violations: Type.Integer({ description: 'existing entities that violate the schema (they stay)' }),
    violation_samples: Type.Array(Answer({ id: RECORD_ID, key: Type.String(), errors: Type.Array(violation) }), { maxItems: 10 }),
  },
  'the schema as stored, and what building its indexes found',
);

export const schemaList = Answer({ schemas: Type.Array(entitySchema) });

// ------------------------------------------------------------------------------------------------ tenant

const TENANT_STATE = Type.Enum(['hot', 'warm', 'cold'], { type: 'string' });

export const snapshotRef = Answer(
  { id: Type.String(), stream_seq: Type.Integer(), created_at: TIMESTAMP, bytes: Type.Integer(), digest: Type.String(), counts: COUNTS_WITH_TOMBSTONES },
  'the latest snapshot of the tenant in object storage',
);

/** Where and how a tenant lives on this node (README, Tenant lifecycle). */
const presenceFields = {
  state: TENANT_STATE,
  pinned: Type.Boolean(),
  last_access: Nullable(TIMESTAMP),
  access_count_1h: Type.Integer(),
  access_count_24h: Type.Integer(),
  size_bytes: Nullable(Type.Integer()),
  score: Type.Number(),
  snapshot: Nullable(snapshotRef),
};

export const tenantInfo = Answer(
  {
    tenant: Type.String(),
    state: TENANT_STATE,
    counts: Nullable(COUNTS_ANY),
    size_bytes: Nullable(Type.Integer()),
    memory_estimate_bytes: Type.Integer(),
    embedder: Type.Optional(Answer({ id: Type.String(), dimension: Type.Integer() })),
    created_at: Type.Optional(TIMESTAMP),
    pinned: Type.Optional(presenceFields.pinned),
    last_access: Type.Optional(presenceFields.last_access),
    access_count_1h: Type.Optional(presenceFields.access_count_1h),
    access_count_24h: Type.Optional(presenceFields.access_count_24h),
    score: Type.Optional(presenceFields.score),
    snapshot: Type.Optional(presenceFields.snapshot),
  },
  'counts, sizes and embedder of an open tenant and its presence; a cold tenant is described from its snapshot (counts with tombstones, no embedder)',
);

export const tenantListing = Answer(
  { tenants: Type.Array(Answer({ tenant: Type.String(), ...presenceFields })), next_cursor: NEXT_CURSOR },
  'tenants in id order with their presence',
);

export const digestAnswer = Answer(
  { digest: Type.String({ description: 'sha256 over record ids and versions' }), counts: COUNTS_WITH_TOMBSTONES, hlc_max: Nullable(Type.String()) },
  'equal on converged replicas',
);

export const syncAnswer = Answer({ applied: Type.Integer(), skipped: Type.Integer(), hlc_max: Nullable(Type.String()) });

export const operationStarted = Answer(
  { operation_id: Type.String(), kind: Type.String(), status: Type.String(), status_url: Type.String({ description: 'GET it for the status' }) },
  'accepted: the operation runs on; poll status_url',
);

const OPERATION_STATUS = Type.Enum(['pending', 'running', 'completed', 'failed'], { type: 'string' });
const operationError = Answer({ code: Type.String(), message: Type.String() });

export const operation = Answer(
  {
    id: Type.String({ description: 'a ULID' }),
    kind: Type.String(),
    tenant: Type.String(),
    node: Type.String({ description: 'the node that runs it' }),
    status: OPERATION_STATUS,
    params: Type.Unknown({ description: 'what it was started with' }),
    steps: Type.Array(
      Answer({
        name: Type.String(),
        status: OPERATION_STATUS,
        started_at: Type.Optional(TIMESTAMP),
        ended_at: Type.Optional(TIMESTAMP),
        error: Type.Optional(operationError),
        detail: Type.Optional(Type.Unknown({ description: 'what the step reports while it runs' })),
      }),
    ),
    error: Type.Optional(operationError),
    result: Type.Optional(Type.Unknown()),
    created_at: TIMESTAMP,
    updated_at: TIMESTAMP,
    attempts: Type.Integer({ description: 'executions begun' }),
  },
  'a tenant operation: status, steps with times, error and result',
);

// ------------------------------------------------------------------------------------------------ health, metrics

export const liveAnswer = Answer({ status: Type.Literal('ok') });

export const readyAnswer = Answer({ status: Type.Literal('ready'), node_id: Type.String(), open_tenants: Type.Integer(), replication: Type.String({ description: 'standalone, or the replicator state' }) });

export const drainAnswer = Answer(
  { outbox_remaining: Type.Integer(), snapshots: Type.Integer(), snapshot_failures: Type.Integer(), timed_out: Type.Boolean() },
  'drained: outboxes published, hot tenants snapshotted',
);

export const metricsText = { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: Type.String() } } } as const;

/** A 4xx or 5xx a route answers itself: the shared Error envelope (shared/http/openapi.ts). */
export function errorAnswer(description: string) {
  return Type.Unsafe<{ error: { code: string; message: string; details?: unknown } }>({ $ref: 'Error#', description });
}

// ------------------------------------------------------------------------------------------------ chat

export const citation = Answer({
  n: Type.Integer({ description: 'the answer marker that cites it: [n]' }),
  kind: KIND,
  id: RECORD_ID,
  uri: Nullable(Type.String()),
  snippet: Type.String(),
});

const EVENT_STREAM = { 'text/event-stream': { schema: Type.String({ description: 'Server-Sent Events (README, Chat)' }) } } as const;

export const chatJson = Answer({
  answer: Type.String(),
  citations: Type.Array(citation),
  provider: Type.String(),
  model: Type.String(),
  moment_id: Type.Optional(Type.String({ description: 'the conversation moment recorded (X-Session-Id)' })),
  took_ms: TOOK_MS,
});

export const chatAnswer = {
  description: 'the answer with its citations, or with stream: true the events delta, done and error',
  content: { 'application/json': { schema: chatJson }, ...EVENT_STREAM },
} as const;

/** Token counts: the three below, and whatever else an upstream model reports (its details). */
const usage = Type.Object({ prompt_tokens: Type.Integer(), completion_tokens: Type.Integer(), total_tokens: Type.Integer() }, { additionalProperties: true });

export const completionJson = Answer({
  id: Type.String(),
  object: Type.Literal('chat.completion'),
  created: Type.Integer(),
  model: Type.String(),
  system_fingerprint: Type.Null(),
  choices: Type.Array(
    Answer({
      index: Type.Integer(),
      message: Answer({
        role: Type.Literal('assistant'),
        content: Nullable(Type.String()),
        refusal: Type.Null(),
        tool_calls: Type.Optional(Type.Array(Type.Unknown(), { description: "the model's tool calls, as it gave them (OpenAI's format)" })),
      }),
      logprobs: Type.Null(),
      finish_reason: Type.Enum(['stop', 'length', 'tool_calls', 'content_filter', 'function_call'], { type: 'string' }),
    }),
  ),
  usage,
  citations: Type.Array(citation),
});

export const chatCompletion = {
  description: 'a chat.completion, or with stream: true chat.completion.chunk events ending with data: [DONE]',
  content: { 'application/json': { schema: completionJson }, ...EVENT_STREAM },
} as const;

export const modelList = Answer({
  object: Type.Literal('list'),
  data: Type.Array(Answer({ id: Type.String(), object: Type.Literal('model'), created: Type.Integer(), owned_by: Type.String() })),
});

// ------------------------------------------------------------------------------------------------ static types

export type Resource = Static<typeof resource>;
export type Edge = Static<typeof edge>;
export type Entity = Static<typeof entity>;
export type Moment = Static<typeof moment>;
export type EntityResult = Static<typeof entityResult>;
export type GraphEdge = Static<typeof graphEdge>;
export type Written = Static<typeof written>;
export type SearchHit = Static<typeof searchHit>;
export type SearchAnswer = Static<typeof searchAnswer>;
export type ResourceHit = Static<typeof resourceHit>;
export type ResourcePage = Static<typeof resourcePage>;
export type ResourceSearch = Static<typeof resourceSearch>;
export type EntityAnswer = Static<typeof entityAnswer>;
export type Neighborhood = Static<typeof neighborhood>;
export type MomentPage = Static<typeof momentPage>;
export type QueryAnswer = Static<typeof queryAnswer>;
export type EntitySchema = Static<typeof entitySchema>;
export type SchemaPut = Static<typeof schemaPut>;
export type SchemaList = Static<typeof schemaList>;
export type TenantInfo = Static<typeof tenantInfo>;
export type TenantListing = Static<typeof tenantListing>;
export type DigestAnswer = Static<typeof digestAnswer>;
export type SyncAnswer = Static<typeof syncAnswer>;
export type OperationStarted = Static<typeof operationStarted>;
export type Operation = Static<typeof operation>;
export type LiveAnswer = Static<typeof liveAnswer>;
export type ReadyAnswer = Static<typeof readyAnswer>;
export type DrainAnswer = Static<typeof drainAnswer>;
export type Citation = Static<typeof citation>;
export type ChatJson = Static<typeof chatJson>;
export type CompletionJson = Static<typeof completionJson>;
export type ModelList = Static<typeof modelList>;

// The request schemas of the database node's routes, written once with TypeBox: they validate requests (Ajv, see
// shared/http/validation.ts), document them (GET /openapi.json), type the handlers (the TypeBox type provider) and
// the typed client (client/index.ts, type-only). Built from configuration so the limits in the schemas are the
// configured ones, and from the write rules' constants (shared/rem/rules.ts) so a route and the engine's validators
// never disagree on a length. Bodies and query strings reject unknown fields; free-form maps (metadata, properties)
// accept any object. Nothing here imports fastify: the module is schemas and types only.
import { Type, type Static, type TObject, type TObjectOptions, type TProperties, type TSchema } from 'typebox';
import type { NodeConfig } from '../../shared/config/config.js';
import { QUERY_CHARS_MAX } from '../../shared/query/lexer.js';
import { ID_PATTERN } from '../../shared/rem/ids.js';
import {
  ALIASES_MAX,
  EDGES_PER_WRITE_MAX,
  KEY_CHARS_MAX,
  LIST_ITEMS_MAX,
  MOMENT_TYPE_CHARS_MAX,
  NAME_CHARS_MAX,
  REL_CHARS_MAX,
  SHORT_TEXT_MAX,
  TYPE_CHARS_MAX,
  URI_CHARS_MAX,
  CHUNK_ORDINAL_MAX,
} from '../../shared/rem/rules.js';
import { TENANT_ID_PATTERN } from '../../shared/rem/tenant-id.js';
import { FIELD_PATH, INDEXED_FIELDS_MAX } from '../../shared/store/schema-registry.js';

// ------------------------------------------------------------------------------------------------ building blocks

/** A free-form JSON object (metadata, properties, a source, a JSON Schema): any keys, any values. */
export function FreeMap(options: TObjectOptions = {}) {
  return Type.Unsafe<Record<string, unknown>>({ type: 'object', additionalProperties: true, ...options });
}

/** `schema` with a default the validator fills in when the sender leaves the field out. */
export type Defaulted<T extends TSchema> = T & { default: Static<T> };

export function withDefault<T extends TSchema>(schema: T, value: Static<T>): Defaulted<T> {
  return Object.assign(schema, { default: value });
}

type DefaultedKeys<P> = { [K in keyof P]: P[K] extends { default: unknown } ? K : never }[keyof P];

/**
 * A request object (body or query string) without unknown fields. A property with a default (withDefault) is not in
 * `required`: the sender may leave it out, the validator fills it in, so the handler's type (Static) has it set.
 * `Sent<typeof schema>` is the sender's type, those properties optional.
 */
export function RequestObject<P extends TProperties>(properties: P, options: TObjectOptions = {}): TObject<P> {
  const o = Type.Object(properties, { additionalProperties: false, ...options });
  // TypeBox types `required` from the properties; at run time it holds only what the sender must send
  const required = ((o.required ?? []) as string[]).filter((k) => !('default' in properties[k]!));
  if (required.length > 0) Object.assign(o, { required });
  else delete (o as { required?: unknown }).required;
  return o;
}

/** What a client sends for a request schema: its defaulted properties may be left out. */
export type Sent<T extends TSchema> =
  T extends TObject<infer P> ? Evaluate<Omit<Static<T>, DefaultedKeys<P>> & Partial<Pick<Static<T>, Extract<DefaultedKeys<P>, keyof Static<T>>>>> : Static<T>;

type Evaluate<T> = { [K in keyof T]: T[K] } & {};

const ID = Type.String({ pattern: ID_PATTERN.source });
const TIME = Type.String({ maxLength: 64 });
const SHORT = Type.String({ maxLength: SHORT_TEXT_MAX });
const STRING_LIST = Type.Array(SHORT, { maxItems: LIST_ITEMS_MAX });
const TYPE = Type.String({ minLength: 1, maxLength: TYPE_CHARS_MAX });
const KEY = Type.String({ minLength: 1, maxLength: KEY_CHARS_MAX });
const REL = Type.String({ minLength: 1, maxLength: REL_CHARS_MAX });
/** An edge's target: an entity id, or the entity's type and key (created by the write when it does not exist). */
const ENTITY_REF = Type.Union([ID, Type.Object({ type: TYPE, key: KEY }, { additionalProperties: false })]);
const CURSOR = Type.String({ maxLength: 8192 });

export const idParams = Type.Object({ id: ID });
export const typeParams = Type.Object({ type: Type.String({ minLength: 1, maxLength: 128 }) });
export const operationParams = Type.Object({ id: Type.String({ maxLength: 64 }) });

export const tenantHeader = Type.Object({ 'x-tenant-id': Type.Optional(Type.String({ maxLength: 256 })) });
export const sessionHeader = Type.Object({ 'x-session-id': Type.Optional(Type.String({ maxLength: 128 })) });
export const drainHeader = Type.Object({ 'x-drain-token': Type.Optional(Type.String({ maxLength: 256 })) });

export const SEARCH_MODES = ['hybrid', 'vector', 'keyword'] as const;
export const KINDS = ['resources', 'entities', 'moments'] as const;
const TENANT_STATES = ['hot', 'warm', 'cold'] as const;
const TENANT_LIST_LIMIT_MAX = 1000;

/** The chat routes' bounds: retrieved items per answer, messages per conversation. */
const CHAT_LIMIT_MAX = 50;
const CHAT_MESSAGES_MAX = 200;

const SCALAR = Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]);
const FIELD = Type.String({ pattern: FIELD_PATH.source, maxLength: 512 });

/** A schema for an entity type: PUT /api/v1/schemas/:type. */
export const schemaPutBody = RequestObject(
  {
    schema: FreeMap({ description: 'JSON Schema of the entity properties' }),
    key_field: Type.Optional(FIELD),
    indexed_fields: Type.Optional(Type.Array(FIELD, { maxItems: INDEXED_FIELDS_MAX, uniqueItems: true })),
    embedding_fields: Type.Optional(Type.Array(FIELD, { maxItems: 64, uniqueItems: true })),
  },
);

export const tenantListQuery = RequestObject({
  state: Type.Optional(Type.Enum(TENANT_STATES, { type: 'string' })),
  limit: withDefault(Type.Integer({ minimum: 1, maximum: TENANT_LIST_LIMIT_MAX }), 100),
  cursor: Type.Optional(Type.String({ pattern: TENANT_ID_PATTERN.source })),
});

export const queryBody = RequestObject({
  query: Type.String({ minLength: 1, maxLength: QUERY_CHARS_MAX }),
  params: Type.Optional(Type.Array(Type.Union([SCALAR, Type.Array(SCALAR, { maxItems: 1000 })]), { maxItems: 100 })),
});

const nativeMessage = Type.Object(
  { role: Type.Enum(['system', 'user', 'assistant'], { type: 'string' }), content: Type.String({ maxLength: 100_000 }) },
  { additionalProperties: false },
);

export const chatBody = RequestObject({
  messages: Type.Array(nativeMessage, { minItems: 1, maxItems: CHAT_MESSAGES_MAX }),
  stream: withDefault(Type.Boolean(), false),
  limit: withDefault(Type.Integer({ minimum: 1, maximum: CHAT_LIMIT_MAX }), 8),
});

// ------------------------------------------------------------------------------------------------ OpenAI chat

const OPENAI_SHORT = Type.String({ maxLength: 256 });
/** A wire-format object passed on as given (tool calls, tool definitions, audio, prediction). */
const ANY_OBJECT = FreeMap();

/** Content of an OpenAI message: text, null, or parts (text, image_url, input_audio, file, refusal; only text is read). */
const openAiContent = Type.Union([
  Type.String({ maxLength: 100_000 }),
  Type.Null(),
  Type.Array(
    Type.Object({ type: OPENAI_SHORT, text: Type.Optional(Type.String({ maxLength: 100_000 })) }, { additionalProperties: true }),
    { maxItems: 100 },
  ),
]);

const openAiMessage = Type.Object(
  {
    role: Type.Enum(['system', 'developer', 'user', 'assistant', 'tool', 'function'], { type: 'string' }),
    content: Type.Optional(openAiContent),
    name: Type.Optional(OPENAI_SHORT),
    tool_call_id: Type.Optional(OPENAI_SHORT),
    /** Tool calls of an assistant turn (or their fragments): the wire format's objects, bounded, passed on as given. */
    tool_calls: Type.Optional(Type.Array(ANY_OBJECT, { maxItems: 128 })),
    function_call: Type.Optional(ANY_OBJECT),
    audio: Type.Optional(Type.Union([ANY_OBJECT, Type.Null()])),
    refusal: Type.Optional(Type.Union([Type.String({ maxLength: 100_000 }), Type.Null()])),
  },
  { additionalProperties: false },
);

/** OpenAI's chat completions request (2026): model, messages, stream and the fields passed to an upstream model. */
export const completionBody = RequestObject({
  model: Type.String({ minLength: 1, maxLength: 256 }),
  messages: Type.Array(openAiMessage, { minItems: 1, maxItems: CHAT_MESSAGES_MAX }),
  stream: withDefault(Type.Boolean(), false),
  stream_options: Type.Optional(
    Type.Object({ include_usage: Type.Optional(Type.Boolean()), include_obfuscation: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
  ),
  temperature: Type.Optional(Type.Number({ minimum: 0, maximum: 2 })),
  top_p: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  max_tokens: Type.Optional(Type.Integer({ minimum: 1 })),
  max_completion_tokens: Type.Optional(Type.Integer({ minimum: 1 })),
  n: Type.Optional(Type.Integer({ minimum: 1, maximum: 1 })),
  stop: Type.Optional(Type.Union([Type.String({ maxLength: 256 }), Type.Array(Type.String({ maxLength: 256 }), { maxItems: 4 }), Type.Null()])),
  presence_penalty: Type.Optional(Type.Number({ minimum: -2, maximum: 2 })),
  frequency_penalty: Type.Optional(Type.Number({ minimum: -2, maximum: 2 })),
  logit_bias: Type.Optional(Type.Record(Type.String(), Type.Number({ minimum: -100, maximum: 100 }), { maxProperties: 300 })),
  logprobs: Type.Optional(Type.Boolean()),
  top_logprobs: Type.Optional(Type.Integer({ minimum: 0, maximum: 20 })),
  seed: Type.Optional(Type.Integer()),
  user: Type.Optional(OPENAI_SHORT),
  safety_identifier: Type.Optional(OPENAI_SHORT),
  prompt_cache_key: Type.Optional(Type.String({ maxLength: 1024 })),
  metadata: Type.Optional(Type.Record(Type.String(), Type.String({ maxLength: 512 }), { maxProperties: 16 })),
  store: Type.Optional(Type.Boolean()),
  service_tier: Type.Optional(Type.Enum(['auto', 'default', 'flex', 'scale', 'priority'], { type: 'string' })),
  reasoning_effort: Type.Optional(Type.Enum(['minimal', 'low', 'medium', 'high', 'none'], { type: 'string' })),
  verbosity: Type.Optional(Type.Enum(['low', 'medium', 'high'], { type: 'string' })),
  modalities: Type.Optional(Type.Array(Type.Enum(['text', 'audio'], { type: 'string' }), { maxItems: 2 })),
  audio: Type.Optional(ANY_OBJECT),
  prediction: Type.Optional(ANY_OBJECT),
  web_search_options: Type.Optional(ANY_OBJECT),
  response_format: Type.Optional(
    Type.Object({ type: Type.Enum(['text', 'json_object', 'json_schema'], { type: 'string' }), json_schema: Type.Optional(ANY_OBJECT) }, { additionalProperties: true }),
  ),
  tools: Type.Optional(Type.Array(Type.Object({ type: OPENAI_SHORT }, { additionalProperties: true }), { maxItems: 128 })),
  tool_choice: Type.Optional(Type.Union([Type.Enum(['none', 'auto', 'required'], { type: 'string' }), ANY_OBJECT])),
  parallel_tool_calls: Type.Optional(Type.Boolean()),
  functions: Type.Optional(Type.Array(ANY_OBJECT, { maxItems: 128 })),
  function_call: Type.Optional(Type.Union([Type.Enum(['none', 'auto'], { type: 'string' }), ANY_OBJECT])),
});

// ------------------------------------------------------------------------------------------------ from configuration

export function schemas(cfg: NodeConfig) {
  const embedding = Type.Array(Type.Number(), { minItems: 1, maxItems: 8192 });
  const resourceInput = Type.Object(
    {
      uri: Type.String({ minLength: 1, maxLength: URI_CHARS_MAX }),
      content: Type.String({ maxLength: cfg.contentCharsMax }),
      name: Type.Optional(Type.String({ maxLength: NAME_CHARS_MAX })),
      chunk_ordinal: Type.Optional(Type.Integer({ minimum: 0, maximum: CHUNK_ORDINAL_MAX })),
      metadata: Type.Optional(FreeMap()),
      source: Type.Optional(FreeMap()),
      embedding: Type.Optional(embedding),
    },
    { additionalProperties: false },
  );
  const edgeInput = Type.Object(
    { rel: REL, to: ENTITY_REF, properties: Type.Optional(FreeMap()), weight: Type.Optional(Type.Number()) },
    { additionalProperties: false },
  );
  const entityInput = Type.Object(
    {
      type: TYPE,
      key: KEY,
      name: Type.Optional(Type.String({ maxLength: KEY_CHARS_MAX })),
      aliases: Type.Optional(Type.Array(Type.String({ maxLength: KEY_CHARS_MAX }), { maxItems: ALIASES_MAX })),
      /** Merged field by field; a null value removes the field. */
      properties: Type.Optional(FreeMap()),
      edges: Type.Optional(Type.Array(edgeInput, { maxItems: EDGES_PER_WRITE_MAX })),
      edges_remove: Type.Optional(Type.Array(Type.Object({ rel: REL, to: ENTITY_REF }, { additionalProperties: false }), { maxItems: EDGES_PER_WRITE_MAX })),
      embedding: Type.Optional(embedding),
    },
    { additionalProperties: false },
  );
  const momentInput = Type.Object(
    {
      id: Type.Optional(SHORT),
      name: Type.Optional(SHORT),
      summary: Type.String({ maxLength: cfg.contentCharsMax }),
      moment_type: Type.Optional(Type.String({ minLength: 1, maxLength: MOMENT_TYPE_CHARS_MAX })),
      start_time: TIME,
      end_time: Type.Optional(TIME),
      tags: Type.Optional(STRING_LIST),
      people: Type.Optional(STRING_LIST),
      resource_ids: Type.Optional(STRING_LIST),
      entity_ids: Type.Optional(STRING_LIST),
      metadata: Type.Optional(FreeMap()),
      embedding: Type.Optional(embedding),
    },
    { additionalProperties: false },
  );
  const limit = withDefault(Type.Integer({ minimum: 1, maximum: cfg.searchLimitMax }), 10);
  const mode = withDefault(Type.Enum(SEARCH_MODES, { type: 'string' }), 'hybrid');
  const filters = Type.Object(
    {
      uri_prefix: Type.Optional(Type.String({ maxLength: URI_CHARS_MAX })),
      metadata: Type.Optional(Type.Record(Type.String(), SCALAR, { maxProperties: 32 })),
      from: Type.Optional(TIME),
      to: Type.Optional(TIME),
    },
    { additionalProperties: false },
  );
  return {
    resourceInput,
    entityInput,
    momentInput,
    resourceBatch: batchOf('resources', resourceInput, cfg.batchSizeMax),
    entityBatch: batchOf('entities', entityInput, cfg.batchSizeMax),
    momentBatch: batchOf('moments', momentInput, cfg.batchSizeMax),
    filters,
    searchBody: RequestObject({
      query: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
      vector: Type.Optional(embedding),
      kinds: withDefault(Type.Array(Type.Enum(KINDS, { type: 'string' }), { minItems: 1, maxItems: 3, uniqueItems: true }), [...KINDS]),
      mode,
      limit,
      filters: Type.Optional(filters),
      ef: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000 })),
    }),
    resourceQuery: RequestObject({
      query: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
      limit,
      mode,
      uri_prefix: Type.Optional(Type.String({ maxLength: 2048 })),
      cursor: Type.Optional(CURSOR),
    }),
    entityQuery: RequestObject({
      key: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
      type: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
      fuzzy: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
      threshold: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
      limit,
    }),
    neighborQuery: RequestObject({
      depth: withDefault(Type.Integer({ minimum: 1, maximum: 5 }), 1),
      direction: withDefault(Type.Enum(['out', 'in', 'both'], { type: 'string' }), 'both'),
      rel: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: cfg.traversalNodesMax })),
    }),
    momentQuery: RequestObject({
      from: Type.Optional(TIME),
      to: Type.Optional(TIME),
      type: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
      tag: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
      limit,
      cursor: Type.Optional(CURSOR),
    }),
    syncBody: RequestObject({ ops: Type.Array(FreeMap(), { minItems: 1, maxItems: cfg.batchSizeMax }) }),
  };
}

/**
 * `{"<field>": [...]}` or one bare object; if/then/else (not anyOf) so errors name the failing field of the branch.
 * TypeBox has no builder for a conditional of this shape: the schema is written out, its type given.
 */
function batchOf<F extends string, T extends TSchema>(field: F, item: T, batchSizeMax: number) {
  return Type.Unsafe<Record<F, Static<T>[]> | Static<T>>({
    type: 'object',
    if: { type: 'object', required: [field], properties: { [field]: {} } },
    then: {
      type: 'object',
      required: [field],
      additionalProperties: false,
      properties: { [field]: Type.Array(item, { minItems: 1, maxItems: batchSizeMax }) },
    },
    else: item,
  });
}

export type Schemas = ReturnType<typeof schemas>;

// ------------------------------------------------------------------------------------------------ static types

export type ResourceInput = Static<Schemas['resourceInput']>;
export type EntityInput = Static<Schemas['entityInput']>;
export type MomentInput = Static<Schemas['momentInput']>;
export type SearchFilters = Static<Schemas['filters']>;
export type SearchBody = Static<Schemas['searchBody']>;
export type ResourceQuery = Static<Schemas['resourceQuery']>;
export type EntityQuery = Static<Schemas['entityQuery']>;
export type NeighborQuery = Static<Schemas['neighborQuery']>;
export type MomentQuery = Static<Schemas['momentQuery']>;
export type SchemaPutBody = Static<typeof schemaPutBody>;
export type TenantListQuery = Static<typeof tenantListQuery>;
export type QueryBody = Static<typeof queryBody>;
export type ChatBody = Static<typeof chatBody>;
export type NativeChatMessage = Static<typeof nativeMessage>;
export type CompletionBody = Static<typeof completionBody>;

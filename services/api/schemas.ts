// JSON schemas for the database node's routes, built from configuration so the limits in the schemas are the
// configured ones, and from the write rules' constants (shared/rem/rules.ts) so a route and the engine's validators
// never disagree on a length. Bodies reject unknown fields; free-form maps (metadata, properties) accept any object.
import type { NodeConfig } from '../../shared/config/config.js';
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

const ID = { type: 'string', pattern: '^[0-9a-f]{32}$' } as const;
const FREE_OBJECT = { type: 'object', additionalProperties: true } as const;
const TIME = { type: 'string', maxLength: 64 } as const;
const SHORT = { type: 'string', maxLength: SHORT_TEXT_MAX } as const;
const STRING_LIST = { type: 'array', maxItems: LIST_ITEMS_MAX, items: SHORT } as const;
const ENTITY_REF = {
  anyOf: [
    ID,
    {
      type: 'object',
      required: ['type', 'key'],
      additionalProperties: false,
      properties: { type: { type: 'string', minLength: 1, maxLength: TYPE_CHARS_MAX }, key: { type: 'string', minLength: 1, maxLength: KEY_CHARS_MAX } },
    },
  ],
} as const;

export const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: ID },
} as const;

export const errorResponse = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} },
    },
  },
} as const;

export const tenantHeader = {
  type: 'object',
  properties: { 'x-tenant-id': { type: 'string', maxLength: 256 } },
} as const;

export function schemas(cfg: NodeConfig) {
  const embedding = { type: 'array', minItems: 1, maxItems: 8192, items: { type: 'number' } } as const;
  const resourceInput = {
    type: 'object',
    required: ['uri', 'content'],
    additionalProperties: false,
    properties: {
      uri: { type: 'string', minLength: 1, maxLength: URI_CHARS_MAX },
      content: { type: 'string', maxLength: cfg.contentCharsMax },
      name: { type: 'string', maxLength: NAME_CHARS_MAX },
      chunk_ordinal: { type: 'integer', minimum: 0, maximum: CHUNK_ORDINAL_MAX },
      metadata: FREE_OBJECT,
      source: FREE_OBJECT,
      embedding,
    },
  } as const;
  const edgeInput = {
    type: 'object',
    required: ['rel', 'to'],
    additionalProperties: false,
    properties: {
      rel: { type: 'string', minLength: 1, maxLength: REL_CHARS_MAX },
      to: ENTITY_REF,
      properties: FREE_OBJECT,
      weight: { type: 'number' },
    },
  } as const;
  const entityInput = {
    type: 'object',
    required: ['type', 'key'],
    additionalProperties: false,
    properties: {
      type: { type: 'string', minLength: 1, maxLength: TYPE_CHARS_MAX },
      key: { type: 'string', minLength: 1, maxLength: KEY_CHARS_MAX },
      name: { type: 'string', maxLength: KEY_CHARS_MAX },
      aliases: { type: 'array', maxItems: ALIASES_MAX, items: { type: 'string', maxLength: KEY_CHARS_MAX } },
      properties: FREE_OBJECT,
      edges: { type: 'array', maxItems: EDGES_PER_WRITE_MAX, items: edgeInput },
      edges_remove: {
        type: 'array',
        maxItems: EDGES_PER_WRITE_MAX,
        items: {
          type: 'object',
          required: ['rel', 'to'],
          additionalProperties: false,
          properties: { rel: { type: 'string', minLength: 1, maxLength: REL_CHARS_MAX }, to: ENTITY_REF },
        },
      },
      embedding,
    },
  } as const;
  const momentInput = {
    type: 'object',
    required: ['summary', 'start_time'],
    additionalProperties: false,
    properties: {
      id: SHORT,
      name: SHORT,
      summary: { type: 'string', maxLength: cfg.contentCharsMax },
      moment_type: { type: 'string', minLength: 1, maxLength: MOMENT_TYPE_CHARS_MAX },
      start_time: TIME,
      end_time: TIME,
      tags: STRING_LIST,
      people: STRING_LIST,
      resource_ids: STRING_LIST,
      entity_ids: STRING_LIST,
      metadata: FREE_OBJECT,
      embedding,
    },
  } as const;
  // `{"<field>": [...]}` or one bare object; if/then/else (not anyOf) so errors name the failing field of the branch
  const batchOf = (field: string, item: object) => ({
    type: 'object',
    if: { type: 'object', required: [field], properties: { [field]: {} } },
    then: {
      type: 'object',
      required: [field],
      additionalProperties: false,
      properties: { [field]: { type: 'array', minItems: 1, maxItems: cfg.batchSizeMax, items: item } },
    },
    else: item,
  });
  const limit = { type: 'integer', minimum: 1, maximum: cfg.searchLimitMax, default: 10 } as const;
  const mode = { type: 'string', enum: ['hybrid', 'vector', 'keyword'], default: 'hybrid' } as const;
  const idsResponse = {
    type: 'object',
    properties: { ids: { type: 'array', items: { type: 'string' } }, count: { type: 'integer' } },
  } as const;
  const filters = {
    type: 'object',
    additionalProperties: false,
    properties: {
      uri_prefix: { type: 'string', maxLength: URI_CHARS_MAX },
      metadata: {
        type: 'object',
        maxProperties: 32,
        additionalProperties: { type: ['string', 'number', 'boolean', 'null'] },
      },
      from: TIME,
      to: TIME,
    },
  } as const;
  return {
    resourceBatch: batchOf('resources', resourceInput),
    entityBatch: batchOf('entities', entityInput),
    momentBatch: batchOf('moments', momentInput),
    idsResponse,
    limit,
    mode,
    filters,
    searchBody: {
      type: 'object',
      additionalProperties: false,
      properties: {
        query: { type: 'string', minLength: 1, maxLength: 4096 },
        vector: embedding,
        kinds: {
          type: 'array',
          minItems: 1,
          maxItems: 3,
          uniqueItems: true,
          items: { type: 'string', enum: ['resources', 'entities', 'moments'] },
          default: ['resources', 'entities', 'moments'],
        },
        mode,
        limit,
        filters,
        ef: { type: 'integer', minimum: 1, maximum: 5000 },
      },
    },
  };
}

export type Schemas = ReturnType<typeof schemas>;

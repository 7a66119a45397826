// The database node's success answers as documented in its OpenAPI document (GET /openapi.json) and serialised
// through them. Objects stay open (additionalProperties): an answer gains fields without breaking clients, and the
// serialiser never drops a field a route returns. Records are free-form maps (their fields are in the README's data
// model); what is listed here is what clients rely on.
const OPEN = { type: 'object', additionalProperties: true } as const;
const TOOK_MS = { type: 'number', description: 'time spent answering, in milliseconds' } as const;
const TRUNCATED = { type: 'boolean', description: 'the answer stopped at a bound (see `bound`); ask again with a smaller limit or a cursor' } as const;

const hit = {
  type: 'object',
  additionalProperties: true,
  properties: { kind: { type: 'string' }, id: { type: 'string' }, score: { type: ['number', 'null'] } },
} as const;

export const searchAnswer = {
  type: 'object',
  additionalProperties: true,
  required: ['results', 'took_ms'],
  properties: { results: { type: 'array', items: hit }, mode: { type: 'string' }, truncated: TRUNCATED, bound: { type: 'string' }, took_ms: TOOK_MS },
} as const;

export const listAnswer = {
  type: 'object',
  additionalProperties: true,
  required: ['results'],
  properties: { results: { type: 'array', items: OPEN }, next_cursor: { type: ['string', 'null'] }, truncated: TRUNCATED, bound: { type: 'string' }, took_ms: TOOK_MS },
} as const;

export const queryAnswer = {
  type: 'object',
  additionalProperties: true,
  required: ['plan'],
  properties: {
    rows: { type: 'array', items: OPEN },
    results: { type: 'array', items: OPEN },
    edges: { type: 'array', items: OPEN },
    plan: {},
    stats: OPEN,
    truncated: TRUNCATED,
    bound: { type: 'string' },
    took_ms: TOOK_MS,
  },
} as const;

export const tenantInfo = {
  type: 'object',
  additionalProperties: true,
  required: ['tenant'],
  properties: { tenant: { type: 'string' }, state: { type: 'string', enum: ['hot', 'warm', 'cold'] }, counts: { anyOf: [OPEN, { type: 'null' }] }, snapshot: {} },
} as const;

export const digestAnswer = { type: 'object', additionalProperties: true, required: ['digest'], properties: { digest: { type: 'string' } } } as const;

export const syncAnswer = {
  type: 'object',
  additionalProperties: true,
  required: ['applied', 'skipped'],
  properties: { applied: { type: 'integer' }, skipped: { type: 'integer' }, hlc_max: { type: ['string', 'null'] } },
} as const;

export const schemasList = { type: 'object', additionalProperties: true, required: ['schemas'], properties: { schemas: { type: 'array', items: OPEN } } } as const;

export const operation = {
  type: 'object',
  additionalProperties: true,
  required: ['id', 'kind', 'status'],
  properties: { id: { type: 'string' }, kind: { type: 'string' }, tenant: { type: 'string' }, status: { type: 'string', enum: ['pending', 'running', 'completed', 'failed'] }, steps: { type: 'array', items: OPEN } },
} as const;

export const liveAnswer = { type: 'object', additionalProperties: true, required: ['status'], properties: { status: { type: 'string' } } } as const;

export const metricsText = { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } } as const;

const citation = {
  type: 'object',
  additionalProperties: true,
  required: ['n', 'kind', 'id'],
  properties: { n: { type: 'integer', description: 'the answer marker that cites it: [n]' }, kind: { type: 'string' }, id: { type: 'string' }, uri: { type: ['string', 'null'] }, snippet: { type: 'string' } },
} as const;

const EVENT_STREAM = { 'text/event-stream': { schema: { type: 'string', description: 'Server-Sent Events (README, Chat)' } } } as const;

export const chatAnswer = {
  description: 'the answer with its citations, or with stream: true the events delta, done and error',
  content: {
    'application/json': {
      schema: {
        type: 'object',
        additionalProperties: true,
        required: ['answer', 'citations'],
        properties: { answer: { type: 'string' }, citations: { type: 'array', items: citation }, provider: { type: 'string' }, model: { type: 'string' }, moment_id: { type: 'string' }, took_ms: TOOK_MS },
      },
    },
    ...EVENT_STREAM,
  },
} as const;

export const chatCompletion = {
  description: 'a chat.completion, or with stream: true chat.completion.chunk events ending with data: [DONE]',
  content: {
    'application/json': {
      schema: {
        type: 'object',
        additionalProperties: true,
        required: ['id', 'object', 'created', 'model', 'choices'],
        properties: {
          id: { type: 'string' },
          object: { type: 'string', enum: ['chat.completion'] },
          created: { type: 'integer' },
          model: { type: 'string' },
          choices: { type: 'array', items: OPEN },
          usage: OPEN,
          citations: { type: 'array', items: citation },
        },
      },
    },
    ...EVENT_STREAM,
  },
} as const;

export const modelList = {
  type: 'object',
  additionalProperties: true,
  required: ['object', 'data'],
  properties: { object: { type: 'string' }, data: { type: 'array', items: { type: 'object', additionalProperties: true, properties: { id: { type: 'string' }, object: { type: 'string' } } } } },
} as const;

// The OpenAPI document of a service, as clients and code generators need it: OpenAPI 3.1 (its schemas are JSON
// Schema 2020-12, so the request bodies' if/then/else are valid), servers, a license, the bearer token and the
// X-Tenant-ID header as security schemes, and for every route an operationId, a tag, the shared Error schema for
// every 4xx/5xx and a documented success answer. Routes document their own answers (their response schemas, with
// 201, 202, 204 where they answer them); the conventions here add what every route shares: the id, the tag, the
// security and the Error schema. A route with no documented success answer is left without one, which
// test/openapi.test.ts refuses.
import type { FastifyDynamicSwaggerOptions } from '@fastify/swagger';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { Type, type Static } from 'typebox';

/** The error envelope of every 4xx and 5xx: one shape, `details` an array of {path, message, keyword} or the code's own. */
export const ERROR_ENVELOPE = Type.Object({
  error: Type.Object({
    code: Type.String({ description: 'stable machine-readable code (README, Errors)' }),
    message: Type.String(),
    details: Type.Optional(Type.Unknown({ description: 'for invalid_request: [{path, message, keyword}]; other codes: their own' })),
  }),
});

export type ErrorEnvelope = Static<typeof ERROR_ENVELOPE>;

/** The envelope as the shared schema routes refer to (`Error#`), `Error` in the document's components. */
export const ERROR_SCHEMA = { $id: 'Error', ...ERROR_ENVELOPE };

const ERROR_REF = { $ref: 'Error#' } as const;

export interface OpenApiOptions {
  title: string;
  version: string;
  description: string;
}

/** Who may call what: health open, /metrics open or an admin token, admin routes a token, the rest a token and a tenant. */
export function securityFor(url: string): Record<string, string[]>[] {
  if (url.startsWith('/health')) return [];
  if (url === '/metrics') return [{}, { bearer: [] }];
  if (url.startsWith('/api/v1/admin')) return [{ bearer: [] }];
  return [{ bearer: [], tenant: [] }];
}

/** Shared schemas keep their `$id` as their name in components.schemas (`Error`, not `def-0`). */
export const refResolver = {
  buildLocalReference(json: Record<string, unknown>, _baseUri: unknown, _fragment: unknown, i: number): string {
    return typeof json.$id === 'string' ? json.$id : `def-${i}`;
  },
};

/**
 * A body schema as the document shows it: `if/then/else` (which validation uses, so an error names the field of the
 * shape the body has: one record or `{"resources": [...]}`) becomes `anyOf: [then, else]`, which accepts the same
 * bodies and which code generators understand (openapi-typescript turns if/then/else into `Record<string, never>`).
 */
export function documentedSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(documentedSchema);
  if (schema === null || typeof schema !== 'object') return schema;
  const o = schema as Record<string, unknown>;
  if (o.if !== undefined && o.then !== undefined && o.else !== undefined) {
    const { if: _if, then, else: otherwise, type: _type, ...rest } = o;
    return { ...rest, anyOf: [documentedSchema(then), documentedSchema(otherwise)] };
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) out[k] = documentedSchema(v);
  return out;
}

/** The `transform` option of @fastify/swagger: routes' body schemas as documentedSchema shows them. */
export function documentTransform({ schema, url }: { schema: Record<string, unknown>; url: string }): { schema: Record<string, unknown>; url: string } {
  if (!schema || schema.body === undefined) return { schema, url };
  return { schema: { ...schema, body: documentedSchema(schema.body) }, url };
}

/** The `openapi` option of @fastify/swagger for a service. */
export function openApiDocument(o: OpenApiOptions): NonNullable<FastifyDynamicSwaggerOptions['openapi']> {
  return {
    openapi: '3.1.0',
    info: { title: o.title, version: o.version, description: o.description, license: { name: 'MIT', identifier: 'MIT' } },
    servers: [{ url: '/', description: 'the service that served this document' }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'a tenant-scoped token (README, Security); not needed with PERCOLATE_AUTH=off' },
        tenant: { type: 'apiKey', in: 'header', name: 'X-Tenant-ID', description: 'the tenant every /api/v1 and /v1 request is about' },
      },
    },
  };
}

/** `post /api/v1/tenant/:id/pin` → `postTenantByIdPin`; the OpenAI routes under /v1 start with `openai`. */
export function operationIdOf(method: string, url: string): string {
  const openai = url.startsWith('/v1/');
  const parts = url
    .replace(/^\/api\/v1(?=\/|$)/, '')
    .replace(/^\/v1(?=\/|$)/, '')
    .split('/')
    .filter(Boolean)
    .map((seg) => (seg.startsWith(':') ? `By${cap(seg.slice(1))}` : cap(seg)))
    .map((seg) => seg.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : '')));
  return `${openai ? 'openai' : ''}${openai ? cap(method.toLowerCase()) : method.toLowerCase()}${parts.join('')}`;
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** The group a path belongs to: its first segment after the API prefix (`openai` for /v1). */
export function tagOf(url: string): string {
  if (url.startsWith('/v1/')) return 'openai';
  const first = url.replace(/^\/api\/v1(?=\/|$)/, '').split('/').filter(Boolean)[0] ?? 'root';
  return first === 'operations' ? 'tenant' : first;
}

type Responses = Record<string, unknown>;

/**
 * Installs the conventions on every route registered after it (call it before the routes): operationId, tags, the
 * Error schema for 4XX and 5XX, and `security` from `securityOf`.
 */
export function installOpenApiConventions(app: FastifyInstance, securityOf: (url: string) => Record<string, string[]>[]): void {
  app.addSchema(ERROR_SCHEMA);
  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = (Array.isArray(route.method) ? route.method : [route.method]).filter((m) => m !== 'HEAD');
    if (methods.length === 0) return;
    const schema = (route.schema ??= {}) as Record<string, unknown> & { response?: Responses; hide?: boolean };
    if (schema.hide) return;
    const method = methods[0]!;
    schema.operationId ??= operationIdOf(method, route.url);
    schema.tags ??= [tagOf(route.url)];
    schema.security ??= securityOf(route.url);
    const response: Responses = { ...(schema.response ?? {}) };
    for (const s of Object.keys(response)) {
      const r = response[s] as Record<string, unknown>;
      // a status documented without words: the linter wants a description, clients want one too
      if (r && typeof r === 'object' && r.description === undefined && r.content === undefined) response[s] = { description: describeStatus(s), ...r };
    }
    response['4XX'] ??= { description: 'the request was refused: the code says why (README, Errors)', ...ERROR_REF };
    response['5XX'] ??= { description: 'the service could not answer now (503 with Retry-After) or failed', ...ERROR_REF };
    schema.response = response;
  });
}

function describeStatus(status: string): string {
  const known: Record<string, string> = { '200': 'the answer', '201': 'created', '202': 'accepted: an operation or job was started', '204': 'done; no body' };
  return known[status] ?? 'answer';
}

// The error envelope `{"error":{"code","message"}}` and the mapping from engine and fastify errors to status codes.
// Bad input must end as a 4xx with a code; only genuine faults are 500s (and are logged).
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RemError, type RemErrorCode } from '../rem/errors.js';
import { ClockDriftError } from '../rem/hlc.js';

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

const REM_STATUS: Record<RemErrorCode, number> = {
  invalid_request: 400,
  invalid_tenant: 400,
  tenant_not_found: 404,
  not_found: 404,
  invalid_embedding: 400,
  embedder_mismatch: 409,
  batch_too_large: 413,
  limit_exceeded: 400,
  conflict: 409,
  schema_violation: 422,
  edge_target_not_found: 422,
  invalid_query: 400,
  invalid_op: 400,
  provider_error: 502,
  provider_unavailable: 502,
  provider_rejected: 400,
  provider_rate_limited: 429,
  provider_timeout: 504,
  overloaded: 503,
  tenant_unavailable: 503,
  quota_exceeded: 429,
};

const FASTIFY_CODES: Record<string, [number, string]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'payload_too_large'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'unsupported_media_type'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'invalid_content_length'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'invalid_json'],
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'invalid_json'],
};

export function errorBody(code: string, message: string, details?: unknown): ErrorBody {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}

/** One failing field of a validated request: the same shape as a schema violation's details. */
export interface ValidationDetail {
  /** JSON pointer to the field at fault, the unknown or missing property included (`/resources/0/uri`). */
  path: string;
  message: string;
  keyword: string;
}

function validationDetail(v: { instancePath?: string; keyword: string; message?: string; params?: Record<string, unknown> }): ValidationDetail {
  const base = v.instancePath ?? '';
  const extra = typeof v.params?.additionalProperty === 'string' ? v.params.additionalProperty : typeof v.params?.missingProperty === 'string' ? v.params.missingProperty : undefined;
  const path = extra !== undefined ? `${base}/${extra}` : base;
  const message =
    v.keyword === 'additionalProperties' ? 'is not a known field' : v.keyword === 'required' ? 'is required' : (v.message ?? 'is invalid');
  return { path, message, keyword: v.keyword };
}

export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof RemError) return new HttpError(REM_STATUS[err.code], err.code, err.message, err.details);
  if (err instanceof ClockDriftError) return new HttpError(400, 'invalid_op', err.message);
  const e = err as FastifyError & { code?: string };
  if (e && typeof e === 'object') {
    if (e.code === 'embedder_mismatch') return new HttpError(409, 'embedder_mismatch', e.message);
    if (e.validation) {
      // drop ajv's summary errors of if/then/else and anyOf, which say nothing about the field at fault
      const specific = e.validation.filter((v) => v.keyword !== 'if' && v.keyword !== 'anyOf');
      const errors = (specific.length > 0 ? specific : e.validation).map(validationDetail);
      const first = errors[0];
      const where = e.validationContext ?? 'request';
      const message = first ? `${where}${first.path.replace(/\//g, '.')} ${first.message}` : e.message;
      return new HttpError(400, 'invalid_request', message, errors.slice(0, 5));
    }
    const known = e.code ? FASTIFY_CODES[e.code] : undefined;
    if (known) return new HttpError(known[0], known[1], e.message);
    if (e instanceof SyntaxError || (e.statusCode === 400 && /JSON/i.test(e.message))) return new HttpError(400, 'invalid_json', 'body is not valid JSON');
    if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
      return new HttpError(e.statusCode, (e.code ?? 'bad_request').toLowerCase(), e.message);
    }
  }
  return new HttpError(500, 'internal_error', 'internal error');
}

/** A route's path as a matcher: `:param` stands for one segment, `*` for the rest. */
function pathMatcher(url: string): RegExp {
  const escaped = url
    .split('/')
    .map((seg) => (seg.startsWith(':') ? '[^/]+' : seg === '*' ? '.*' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${escaped}/?$`);
}

/**
 * Installs the error and not-found handlers that speak the error envelope. A known path asked with a method it does
 * not have answers 405 with `Allow` (RFC 9110), not 404; install this before the routes are registered.
 */
export function installErrorHandling(app: FastifyInstance): void {
  // by matcher source: the methods of one path (GET and HEAD, GET and DELETE of /:id) gather under one entry
  const routes = new Map<string, { match: RegExp; methods: Set<string> }>();
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const match = pathMatcher(route.url);
    const existing = routes.get(match.source);
    if (existing) for (const m of methods) existing.methods.add(m);
    else routes.set(match.source, { match, methods: new Set(methods) });
  });
  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const h = toHttpError(err);
    if (err instanceof RemError && (h.statusCode === 503 || h.code === 'provider_rate_limited')) {
      // a bounded queue or a tenant on its way here: the client may retry, and is told when
      const after = (err.details as { retry_after_s?: unknown } | undefined)?.retry_after_s;
      void reply.header('retry-after', String(typeof after === 'number' && after > 0 ? Math.ceil(after) : 1));
      req.log.warn({ code: h.code, err: h.message }, 'request refused for now');
    } else if (h.statusCode >= 500) req.log.error({ err }, 'request failed');
    void reply.code(h.statusCode).type('application/json').send(errorBody(h.code, h.message, h.details));
  });
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0]!;
    const allowed = new Set<string>();
    for (const r of routes.values()) if (r.match.test(path)) for (const m of r.methods) allowed.add(m);
    if (allowed.size > 0) {
      if (allowed.has('GET')) allowed.add('HEAD');
      const allow = [...allowed].sort().join(', ');
      void reply.code(405).header('allow', allow).send(errorBody('method_not_allowed', `${req.method} is not allowed on ${path}; allowed: ${allow}`));
      return;
    }
    void reply.code(404).send(errorBody('route_not_found', `no route ${req.method} ${path}`));
  });
}

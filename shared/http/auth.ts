// Access control at the edge, the same on every service: the bearer token (a JWT, see shared/auth/tokens.ts) is
// verified, its tenant must be the request's X-Tenant-ID (or `*`), and its scope must cover what the route needs:
// `ro` to read, `rw` to write, `admin` for tenant administration and replication. Routes declare what they need
// in `config.scope`; without it GET and HEAD need ro and everything else rw. Failures are 401 (a bad or missing
// token, with `WWW-Authenticate: Bearer`) or 403 (a good token for something else), logged as audit lines, counted
// by reason, and never echo the token.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Counter } from 'prom-client';
import { SCOPES, TokenError, type Scope, type TokenClaims, type TokenVerifier } from '../auth/tokens.js';
import { audit, type AuditLog } from './audit.js';
import { HttpError } from './errors.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What the route needs of a token (default: ro for GET and HEAD, rw otherwise). */
    scope?: Scope;
  }
  interface FastifyRequest {
    /** The verified token's grant (with auth off: every tenant, admin). */
    auth: TokenClaims;
  }
}

/** The grant of every request when auth is off (development, tests of other features). */
export const AUTH_OFF_CLAIMS: TokenClaims = Object.freeze({ tenant: '*', scope: 'admin', sub: 'anonymous', exp: Number.MAX_SAFE_INTEGER });

export interface AuthHookOptions {
  /** Undefined: auth is off. */
  verifier: TokenVerifier | undefined;
  failures: Counter<'reason'>;
  /** Where 401s and 403s are logged (the service's logger). */
  log: AuditLog;
  /** The tenant a request is for; undefined on routes that name none (the check then needs a `*` token). */
  tenantOf?: (req: FastifyRequest) => string | undefined;
}

/** The scope a route needs. */
export function requiredScope(req: FastifyRequest): Scope {
  return req.routeOptions.config?.scope ?? (req.method === 'GET' || req.method === 'HEAD' ? 'ro' : 'rw');
}

export function scopeCovers(have: Scope, need: Scope): boolean {
  return SCOPES.indexOf(have) >= SCOPES.indexOf(need);
}

/** The bearer token of a request, or undefined (an `Authorization` header of another scheme counts as none). */
export function bearerToken(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (typeof h !== 'string') return undefined;
  const m = /^Bearer\s+([A-Za-z0-9._~+/=-]+)\s*$/i.exec(h);
  return m ? m[1] : undefined;
}

class AuthFailure extends HttpError {
  constructor(status: 401 | 403 | 503, code: string, message: string) {
    super(status, code, message);
  }
}

/** Installs the check as an onRequest hook of `app` (a route-group scope); call it after the tenant hook. */
export function installAuth(app: FastifyInstance, o: AuthHookOptions): void {
  app.decorateRequest('auth', null as unknown as TokenClaims);
  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    if (!o.verifier) {
      req.auth = AUTH_OFF_CLAIMS;
      return;
    }
    const route = req.routeOptions.url ?? 'unmatched';
    const tenant = o.tenantOf ? o.tenantOf(req) : req.tenant || undefined;
    const refuse = (status: 401 | 403 | 503, reason: string, message: string, sub?: string): never => {
      o.failures.inc({ reason });
      audit(o.log, 'auth_failure', { reason, status, route, method: req.method, tenant, sub });
      if (status === 401) {
        // RFC 6750: no error attribute when the request carried no token at all
        void reply.header('www-authenticate', reason === 'token_missing' ? 'Bearer realm="percolate"' : `Bearer realm="percolate", error="invalid_token", error_description="${message}"`);
      }
      throw new AuthFailure(status, reason, message);
    };
    const token = bearerToken(req);
    if (!token) return refuse(401, 'token_missing', 'an Authorization: Bearer <token> header is required');
    let claims: TokenClaims;
    try {
      claims = await o.verifier.verify(token);
    } catch (err) {
      if (err instanceof TokenError) return refuse(err.code === 'auth_unavailable' ? 503 : 401, err.code, err.message);
      throw err;
    }
    if (claims.tenant !== '*' && claims.tenant !== tenant) {
      return refuse(403, 'tenant_forbidden', tenant ? `the token is for tenant '${claims.tenant}', not '${tenant}'` : `this route needs a token for every tenant (*)`, claims.sub);
    }
    const need = requiredScope(req);
    if (!scopeCovers(claims.scope, need)) return refuse(403, 'scope_forbidden', `this route needs scope ${need}; the token has ${claims.scope}`, claims.sub);
    req.auth = claims;
  });
}

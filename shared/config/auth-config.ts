// Configuration of access control, shared by every service: whether tokens are required, where keys come from,
// which claims carry the tenant and the scope, the audience of this installation; and CORS.
import path from 'node:path';
import { boolFrom, ConfigError, intFrom } from './env.js';

export type AuthMode = 'required' | 'off';

export interface AuthConfig {
  /** `required` (default): every tenant route needs a token; `off`: development and tests of other features. */
  mode: AuthMode;
  /** The installation id tokens must name in `aud`. */
  audience: string;
  /** A JWK set file (`{"keys":[...]}`) with private or public keys (a Kubernetes Secret mounted as a file). */
  keysFile: string | undefined;
  /** The key file created on first start when no key is configured (`<data dir>/keys/jwks.json`). */
  localKeysFile: string;
  /** A remote JWKS of an external identity provider, cached and refreshed by jose. */
  jwksUrl: string | undefined;
  /** Shortest time between two fetches of the remote JWKS (a token with an unknown kid triggers one). */
  jwksCooldownMs: number;
  /** Claims that carry the tenant and the scope (Keycloak- or Auth0-style tokens name them differently). */
  tenantClaim: string;
  scopeClaim: string;
  /** Clock skew tolerated on exp and nbf, in seconds. */
  leewayS: number;
  /** Verified tokens remembered (bounded), so verification does not show in request latency. */
  cacheMax: number;
  /** How long a verified token is remembered at most (never past its exp). */
  cacheTtlMs: number;
  /** /metrics needs an admin token too. */
  metricsAuth: boolean;
}

export interface CorsConfig {
  /** Allowed origins; empty: CORS off. `*` allows any origin. */
  origins: string[];
}

const CLAIM = /^[A-Za-z_][A-Za-z0-9_.:/-]{0,127}$/;

export function loadAuthConfig(env: NodeJS.ProcessEnv, dataDir: string): AuthConfig {
  const mode = (env.PERCOLATE_AUTH || 'required') as AuthMode;
  if (mode !== 'required' && mode !== 'off') throw new ConfigError(`PERCOLATE_AUTH must be required or off, got '${mode}'`);
  const audience = env.PERCOLATE_AUTH_AUDIENCE || 'percolate';
  if (audience.length > 256) throw new ConfigError('PERCOLATE_AUTH_AUDIENCE must be at most 256 characters');
  const jwksUrl = env.PERCOLATE_AUTH_JWKS_URL || undefined;
  if (jwksUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(jwksUrl);
    } catch {
      throw new ConfigError(`PERCOLATE_AUTH_JWKS_URL must be an http(s) URL, got '${jwksUrl}'`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError(`PERCOLATE_AUTH_JWKS_URL must be an http(s) URL, got '${jwksUrl}'`);
  }
  const tenantClaim = env.PERCOLATE_AUTH_TENANT_CLAIM || 'tenant';
  const scopeClaim = env.PERCOLATE_AUTH_SCOPE_CLAIM || 'scope';
  for (const [name, v] of [['PERCOLATE_AUTH_TENANT_CLAIM', tenantClaim], ['PERCOLATE_AUTH_SCOPE_CLAIM', scopeClaim]] as const) {
    if (!CLAIM.test(v)) throw new ConfigError(`${name} must be a claim name, got '${v}'`);
  }
  return {
    mode,
    audience,
    keysFile: env.PERCOLATE_AUTH_KEYS_FILE ? path.resolve(env.PERCOLATE_AUTH_KEYS_FILE) : undefined,
    localKeysFile: path.join(dataDir, 'keys', 'jwks.json'),
    jwksUrl,
    jwksCooldownMs: intFrom(env, 'PERCOLATE_AUTH_JWKS_COOLDOWN_MS', 30_000, 0, 3_600_000),
    tenantClaim,
    scopeClaim,
    leewayS: intFrom(env, 'PERCOLATE_AUTH_LEEWAY_S', 30, 0, 3600),
    cacheMax: intFrom(env, 'PERCOLATE_AUTH_CACHE_MAX', 10_000, 0, 10_000_000),
    cacheTtlMs: intFrom(env, 'PERCOLATE_AUTH_CACHE_TTL_MS', 60_000, 0, 3_600_000),
    metricsAuth: boolFrom(env, 'PERCOLATE_METRICS_AUTH', false),
  };
}

export function loadCorsConfig(env: NodeJS.ProcessEnv): CorsConfig {
  const raw = env.PERCOLATE_CORS_ORIGINS ?? '';
  const origins = raw
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean);
  for (const o of origins) {
    if (o === '*') continue;
    let url: URL;
    try {
      url = new URL(o);
    } catch {
      throw new ConfigError(`PERCOLATE_CORS_ORIGINS: '${o}' must be an origin such as https://app.example.com, or *`);
    }
    if (url.origin !== o) throw new ConfigError(`PERCOLATE_CORS_ORIGINS: '${o}' must be an origin (scheme, host, port; no path), e.g. ${url.origin}`);
  }
  return { origins };
}

export interface RateLimitConfig {
  readsMax: number;
  writesMax: number;
  windowMs: number;
}

/** Per-tenant request rates, read the same on every service: one setting per installation. */
export function loadRateLimitConfig(env: NodeJS.ProcessEnv): RateLimitConfig {
  return {
    readsMax: intFrom(env, 'PERCOLATE_RATE_LIMIT_READS', 120_000, 1, 100_000_000),
    writesMax: intFrom(env, 'PERCOLATE_RATE_LIMIT_WRITES', 120_000, 1, 100_000_000),
    windowMs: intFrom(env, 'PERCOLATE_RATE_LIMIT_WINDOW_MS', 60_000, 100, 3_600_000),
  };
}

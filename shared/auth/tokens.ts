// Tenant-scoped tokens: JWTs (jose; HS256 or EdDSA) that name one tenant (or `*` for operators and services), a
// scope (ro < rw < admin), the installation's audience, an expiry and who holds them. Verification checks signature,
// algorithm, kid, exp / nbf (with a leeway), audience and the claims, and says which check failed; verified tokens are
// remembered briefly in a bounded cache so that verification does not show in request latency.
import { createRemoteJWKSet, jwtVerify, SignJWT, errors as joseErrors, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { TENANT_ID_PATTERN } from '../rem/tenant-id.js';
import { TOKEN_ALGORITHMS, type KeyRing } from './keys.js';

export type Scope = 'ro' | 'rw' | 'admin';
export const SCOPES: readonly Scope[] = ['ro', 'rw', 'admin'];

/** What a verified token grants. */
export interface TokenClaims {
  /** One tenant id, or `*` (every tenant: operators, workers, nodes). */
  tenant: string;
  scope: Scope;
  /** Who holds it: a user, `worker`, a node. */
  sub: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
}

/** Why a token was refused; each is a `401` with `WWW-Authenticate: Bearer error="invalid_token"`. */
export type TokenFailure =
  | 'token_missing'
  | 'token_malformed'
  | 'token_algorithm'
  | 'token_unknown_key'
  | 'token_signature'
  | 'token_expired'
  | 'token_not_yet_valid'
  | 'token_audience'
  | 'token_claims';

export class TokenError extends Error {
  constructor(
    readonly code: TokenFailure | 'auth_unavailable',
    message: string,
  ) {
    super(message);
    this.name = 'TokenError';
  }
}

export interface VerifierOptions {
  /** Local keys (a key file, or the local key). */
  ring: KeyRing;
  /** An identity provider's JWKS, used for kids the ring does not hold. */
  jwksUrl?: string;
  jwksCooldownMs?: number;
  audience: string;
  tenantClaim: string;
  scopeClaim: string;
  leewayS: number;
  cacheMax: number;
  cacheTtlMs: number;
  /** The clock (tests). */
  nowMs?: () => number;
}

/** Scope of a claim value: `rw`, or a space-separated list (`openid percolate:rw`) of which the highest counts. */
function scopeOf(value: unknown): Scope | undefined {
  const items = Array.isArray(value) ? value : typeof value === 'string' ? value.split(/\s+/) : [];
  let best = -1;
  for (const item of items) {
    if (typeof item !== 'string') continue;
    const name = item.includes(':') ? item.slice(item.lastIndexOf(':') + 1) : item;
    best = Math.max(best, SCOPES.indexOf(name as Scope));
  }
  return best >= 0 ? SCOPES[best] : undefined;
}

/** A claim by name; dotted names descend into objects (`realm_access.tenant`). */
function claimOf(payload: JWTPayload, name: string): unknown {
  let v: unknown = payload;
  for (const part of name.split('.')) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, part)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

function failure(err: unknown): TokenError {
  if (err instanceof TokenError) return err;
  if (err instanceof joseErrors.JWTExpired) return new TokenError('token_expired', 'the token has expired');
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return new TokenError('token_not_yet_valid', 'the token is not valid yet (nbf)');
    if (err.claim === 'aud') return new TokenError('token_audience', 'the token is for another audience (aud)');
    return new TokenError('token_claims', `the token's ${err.claim} claim is ${err.reason === 'missing' ? 'missing' : 'invalid'}`);
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed || err instanceof joseErrors.JOSENotSupported) {
    return new TokenError('token_algorithm', `the token's algorithm is not accepted (only ${TOKEN_ALGORITHMS.join(', ')})`);
  }
  if (err instanceof joseErrors.JWKSNoMatchingKey) return new TokenError('token_unknown_key', "the token's kid names no known key");
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return new TokenError('token_signature', "the token's signature does not verify");
  if (err instanceof joseErrors.JWKSTimeout) return new TokenError('auth_unavailable', 'the identity provider did not answer in time');
  if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid) return new TokenError('token_malformed', 'the token is not a well-formed JWT');
  if (err instanceof joseErrors.JOSEError) return new TokenError('token_malformed', 'the token could not be verified');
  // a fetch failure of the remote JWKS: the provider, not the token, is at fault
  return new TokenError('auth_unavailable', 'the identity provider could not be reached');
}

interface Cached {
  claims: TokenClaims;
  untilMs: number;
}

export class TokenVerifier {
  private readonly remote: JWTVerifyGetKey | undefined;
  /** Verified tokens, least recently used first (a Map keeps insertion order). */
  private readonly cache = new Map<string, Cached>();
  private readonly nowMs: () => number;

  constructor(private readonly o: VerifierOptions) {
    this.remote = o.jwksUrl
      ? createRemoteJWKSet(new URL(o.jwksUrl), { cacheMaxAge: 10 * 60_000, cooldownDuration: o.jwksCooldownMs ?? 30_000, timeoutDuration: 5_000 })
      : undefined;
    this.nowMs = o.nowMs ?? Date.now;
  }

  /** Verified tokens currently remembered. */
  get cached(): number {
    return this.cache.size;
  }

  async verify(token: string): Promise<TokenClaims> {
    const now = this.nowMs();
    const hit = this.cache.get(token);
    if (hit) {
      this.cache.delete(token);
      if (hit.untilMs > now) {
        this.cache.set(token, hit);
        return hit.claims;
      }
    }
    const claims = await this.verifyUncached(token, now);
    if (this.o.cacheMax > 0) {
      this.cache.set(token, { claims, untilMs: Math.min(now + this.o.cacheTtlMs, claims.exp * 1000) });
      while (this.cache.size > this.o.cacheMax) this.cache.delete(this.cache.keys().next().value!);
    }
    return claims;
  }

  private async verifyUncached(token: string, nowMs: number): Promise<TokenClaims> {
    const ring = this.o.ring;
    const remote = this.remote;
    const getKey: JWTVerifyGetKey = async (header, t) => {
      if (!TOKEN_ALGORITHMS.includes(header.alg as (typeof TOKEN_ALGORITHMS)[number])) throw new joseErrors.JOSEAlgNotAllowed('alg not allowed');
      const local = header.kid !== undefined ? ring.verificationKey(header.kid, header.alg) : undefined;
      if (local) return local;
      if (remote) return remote(header, t);
      throw new joseErrors.JWKSNoMatchingKey();
    };
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, getKey, {
        algorithms: [...TOKEN_ALGORITHMS],
        audience: this.o.audience,
        clockTolerance: this.o.leewayS,
        requiredClaims: ['exp'],
        currentDate: new Date(nowMs),
      }));
    } catch (err) {
      throw failure(err);
    }
    const tenant = claimOf(payload, this.o.tenantClaim);
    if (typeof tenant !== 'string' || (tenant !== '*' && !TENANT_ID_PATTERN.test(tenant))) {
      throw new TokenError('token_claims', `the token's ${this.o.tenantClaim} claim must be a tenant id or *`);
    }
    const scope = scopeOf(claimOf(payload, this.o.scopeClaim));
    if (!scope) throw new TokenError('token_claims', `the token's ${this.o.scopeClaim} claim must be ro, rw or admin`);
    const sub = typeof payload.sub === 'string' && payload.sub.length <= 256 ? payload.sub : 'unknown';
    return { tenant, scope, sub, exp: payload.exp! };
  }
}

export interface MintOptions {
  tenant: string;
  scope: Scope;
  ttlS: number;
  sub?: string;
  kid?: string;
  audience: string;
  /** The claim names the services read tenant and scope from (PERCOLATE_AUTH_TENANT_CLAIM / _SCOPE_CLAIM; dotted
   * names are nested objects); `tenant` and `scope` when absent. */
  claimNames?: { tenant: string; scope: string };
  /** The clock (tests). */
  nowS?: number;
}

/** Sets a claim by its (possibly dotted) name, creating the nested objects on the way. */
function setClaim(payload: Record<string, unknown>, name: string, value: unknown): void {
  const parts = name.split('.');
  let at = payload;
  for (const part of parts.slice(0, -1)) {
    const next = Object.hasOwn(at, part) ? at[part] : undefined;
    at = (at[part] = next !== null && typeof next === 'object' ? next : Object.create(null)) as Record<string, unknown>;
  }
  at[parts[parts.length - 1]!] = value;
}

/** Signs a token with the ring's key (`kid`, or the newest with private material). */
export async function mintToken(ring: KeyRing, o: MintOptions): Promise<string> {
  const { kid, alg, key } = ring.signingKey(o.kid);
  const now = o.nowS ?? Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = Object.create(null);
  setClaim(payload, o.claimNames?.tenant ?? 'tenant', o.tenant);
  setClaim(payload, o.claimNames?.scope ?? 'scope', o.scope);
  return new SignJWT(payload)
    .setProtectedHeader({ alg, kid, typ: 'JWT' })
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + o.ttlS)
    .setAudience(o.audience)
    .setSubject(o.sub ?? 'cli')
    .sign(key);
}

/** Durations like `90s`, `15m`, `1h`, `7d` in seconds. */
export function parseTtl(text: string): number {
  const m = /^(\d{1,9})([smhd])$/.exec(text);
  if (!m) throw new Error(`a duration must be a number with s, m, h or d (e.g. 1h), got '${text}'`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as 's' | 'm' | 'h' | 'd'];
}

// What a service does with its auth configuration at start: load (or, on first start, create) the key ring, build
// the token verifier, and say what it did: a created key is logged with its file and kid, never its material;
// auth off is a warning.
import type { AuthConfig } from '../config/auth-config.js';
import { loadKeyRing, type KeyRing } from './keys.js';
import { TokenVerifier } from './tokens.js';

export interface AuthSetup {
  /** Undefined when auth is off. */
  verifier: TokenVerifier | undefined;
  ring: KeyRing;
  keysFile: string | undefined;
}

export async function setupAuth(cfg: AuthConfig, log: { info(o: object, m: string): void; warn(o: object, m: string): void }, service: string): Promise<AuthSetup> {
  if (cfg.mode === 'off') {
    log.warn({ service }, 'PERCOLATE_AUTH=off: every request is accepted without a token (development and tests only)');
    const { ring, file } = await loadKeyRing({ keysFile: cfg.keysFile, localKeysFile: cfg.localKeysFile, createLocal: false });
    return { verifier: undefined, ring, keysFile: file };
  }
  // with an identity provider's JWKS and no key file, nothing is created: the provider signs
  const { ring, file, created } = await loadKeyRing({ keysFile: cfg.keysFile, localKeysFile: cfg.localKeysFile, createLocal: !cfg.jwksUrl });
  if (created) log.info({ service, file, kid: ring.kids[0] }, 'created a local signing key (no PERCOLATE_AUTH_KEYS_FILE was configured); mint tokens with `npx percolate token`');
  const verifier = new TokenVerifier({
    ring,
    ...(cfg.jwksUrl ? { jwksUrl: cfg.jwksUrl, jwksCooldownMs: cfg.jwksCooldownMs } : {}),
    audience: cfg.audience,
    tenantClaim: cfg.tenantClaim,
    scopeClaim: cfg.scopeClaim,
    leewayS: cfg.leewayS,
    cacheMax: cfg.cacheMax,
    cacheTtlMs: cfg.cacheTtlMs,
  });
  return { verifier, ring, keysFile: file };
}

// Token verification, check by check: every way a token can be wrong is refused with the code that names it, valid
// HS256 and EdDSA tokens pass, keys rotate by kid, and verified tokens are remembered within their bounds.
import { SignJWT, UnsecuredJWT, base64url } from 'jose';
import { describe, expect, it } from 'vitest';
import { generateJwk, KeyRing } from '../shared/auth/keys.js';
import { mintToken, parseTtl, TokenVerifier, type Scope } from '../shared/auth/tokens.js';

const AUD = 'test-install';
const NOW_S = 1_800_000_000;

async function ringOf(...algs: ('EdDSA' | 'HS256')[]) {
  const jwks = await Promise.all(algs.map((a) => generateJwk(a)));
  return { ring: await KeyRing.fromJwks({ keys: jwks }, 'test'), jwks };
}

function verifier(ring: KeyRing, over: Partial<ConstructorParameters<typeof TokenVerifier>[0]> = {}) {
  return new TokenVerifier({ ring, audience: AUD, tenantClaim: 'tenant', scopeClaim: 'scope', leewayS: 30, cacheMax: 100, cacheTtlMs: 60_000, nowMs: () => NOW_S * 1000, ...over });
}

const mint = (ring: KeyRing, over: Partial<Parameters<typeof mintToken>[1]> = {}) =>
  mintToken(ring, { tenant: 'acme', scope: 'rw', ttlS: 3600, sub: 'alice', audience: AUD, nowS: NOW_S, ...over });

async function code(v: TokenVerifier, token: string): Promise<string> {
  try {
    await v.verify(token);
    return 'accepted';
  } catch (err) {
    return (err as { code: string }).code;
  }
}

describe('token verification', () => {
  it('accepts EdDSA and HS256 tokens and returns their tenant, scope, subject and expiry', async () => {
    const { ring } = await ringOf('EdDSA', 'HS256');
    const v = verifier(ring);
    for (const kid of ring.kids) {
      const claims = await v.verify(await mint(ring, { kid, scope: 'ro', tenant: '*' }));
      expect(claims).toEqual({ tenant: '*', scope: 'ro', sub: 'alice', exp: NOW_S + 3600 });
    }
  });

  it('refuses each kind of bad token with the code that names the check', async () => {
    const { ring } = await ringOf('EdDSA');
    const { ring: other } = await ringOf('EdDSA');
    const v = verifier(ring);
    const [kid] = ring.kids;
    const signed = (claims: Record<string, unknown>, header: Record<string, unknown> = {}) =>
      new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', kid: kid!, ...header }).sign(ring.signingKey().key);
    const good = await mint(ring);
    const [h, p] = good.split('.');
    const otherSig = (await mint(other)).split('.')[2];
    const cases: [string, string, string][] = [
      ['alg none', new UnsecuredJWT({ tenant: 'acme', scope: 'rw', aud: AUD, exp: NOW_S + 60 }).encode(), 'token_algorithm'],
      ['not a JWT', 'not.a.jwt', 'token_malformed'],
      ['garbage', 'x', 'token_malformed'],
      ['unknown kid', await mint(other), 'token_unknown_key'],
      ['bad signature', `${h}.${p}.${otherSig}`, 'token_signature'],
      ['tampered payload', `${h}.${base64url.encode(JSON.stringify({ tenant: 'evil', scope: 'admin', aud: AUD, exp: NOW_S + 60 }))}.${good.split('.')[2]}`, 'token_signature'],
      ['expired beyond the leeway', await mint(ring, { nowS: NOW_S - 3600 - 31, ttlS: 3600 }), 'token_expired'],
      ['not yet valid', await signed({ tenant: 'acme', scope: 'rw', aud: AUD, exp: NOW_S + 600, nbf: NOW_S + 300 }), 'token_not_yet_valid'],
      ['wrong audience', await mint(ring, { audience: 'someone-else' }), 'token_audience'],
      ['no exp', await signed({ tenant: 'acme', scope: 'rw', aud: AUD }), 'token_claims'],
      ['no tenant', await signed({ scope: 'rw', aud: AUD, exp: NOW_S + 60 }), 'token_claims'],
      ['bad tenant', await signed({ tenant: '../x', scope: 'rw', aud: AUD, exp: NOW_S + 60 }), 'token_claims'],
      ['no scope', await signed({ tenant: 'acme', aud: AUD, exp: NOW_S + 60 }), 'token_claims'],
      ['unknown scope', await signed({ tenant: 'acme', scope: 'root', aud: AUD, exp: NOW_S + 60 }), 'token_claims'],
      ['HS256 header on an EdDSA kid', `${base64url.encode(JSON.stringify({ alg: 'HS256', kid }))}.${p}.${good.split('.')[2]}`, 'token_unknown_key'],
    ];
    for (const [what, token, expected] of cases) expect(await code(v, token), what).toBe(expected);
    // within the leeway an expired token still passes
    expect(await code(v, await mint(ring, { nowS: NOW_S - 3600 - 10, ttlS: 3600 }))).toBe('accepted');
  });

  it('takes the highest scope from a space-separated list and reads dotted claim names', async () => {
    const { ring } = await ringOf('HS256');
    const v = verifier(ring, { tenantClaim: 'org.tenant', scopeClaim: 'scp' });
    const token = await new SignJWT({ org: { tenant: 'acme' }, scp: 'openid percolate:ro percolate:rw' })
      .setProtectedHeader({ alg: 'HS256', kid: ring.kids[0]! })
      .setAudience(AUD)
      .setExpirationTime(NOW_S + 60)
      .sign(ring.signingKey().key);
    expect(await v.verify(token)).toMatchObject({ tenant: 'acme', scope: 'rw' as Scope });
  });

  it('mints under the configured claim names, so the services accept its tokens with custom claims', async () => {
    const { ring } = await ringOf('EdDSA');
    const custom = verifier(ring, { tenantClaim: 'org.tenant', scopeClaim: 'scp' });
    const token = await mint(ring, { claimNames: { tenant: 'org.tenant', scope: 'scp' } });
    expect(await custom.verify(token)).toMatchObject({ tenant: 'acme', scope: 'rw' });
    // the default names are not written then: a verifier reading them refuses the token
    expect(await code(verifier(ring), token)).toBe('token_claims');
  });

  it('rotates keys: both verify while both are in the ring, the old one fails once removed', async () => {
    const { ring: both, jwks } = await ringOf('EdDSA', 'EdDSA');
    const oldToken = await mint(both, { kid: jwks[0]!.kid });
    const newToken = await mint(both); // the newest key signs by default
    expect(newToken).not.toBe(oldToken);
    const v = verifier(both, { cacheMax: 0 });
    expect(await code(v, oldToken)).toBe('accepted');
    expect(await code(v, newToken)).toBe('accepted');
    const onlyNew = verifier(await KeyRing.fromJwks({ keys: [jwks[1]!] }, 'test'), { cacheMax: 0 });
    expect(await code(onlyNew, oldToken)).toBe('token_unknown_key');
    expect(await code(onlyNew, newToken)).toBe('accepted');
  });

  it('remembers verified tokens, bounded by count, by its TTL and by the token expiry', async () => {
    const { ring } = await ringOf('HS256');
    let now = NOW_S * 1000;
    const v = verifier(ring, { cacheMax: 2, cacheTtlMs: 10_000, nowMs: () => now });
    const tokens = await Promise.all([1, 2, 3].map((i) => mint(ring, { sub: `u${i}` })));
    for (const t of tokens) await v.verify(t);
    expect(v.cached).toBe(2);
    // a cached token past its expiry is verified again (and refused), not served from the cache
    const short = await mint(ring, { ttlS: 5 });
    await v.verify(short);
    now += 5_000 + 31_000;
    expect(await code(v, short)).toBe('token_expired');
  });

  it('parses token lifetimes', () => {
    expect([parseTtl('90s'), parseTtl('15m'), parseTtl('1h'), parseTtl('7d')]).toEqual([90, 900, 3600, 604_800]);
    expect(() => parseTtl('1 hour')).toThrow(/duration/);
  });
});

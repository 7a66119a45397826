// A signing key for a test node with auth required: a JWK set in a temporary file (PERCOLATE_AUTH_KEYS_FILE) and
// tokens minted with it, as `percolate token` would.
import fs from 'node:fs/promises';
import path from 'node:path';
import { generateJwk, KeyRing } from '../../shared/auth/keys.js';
import { mintToken, type Scope } from '../../shared/auth/tokens.js';
import { tempDir } from './tmp.js';

export interface TestAuth {
  /** PERCOLATE_AUTH_KEYS_FILE and PERCOLATE_AUTH_AUDIENCE for the node. */
  env: Record<string, string>;
  token(o: { tenant: string; scope: Scope; ttlS?: number }): Promise<string>;
  cleanup(): Promise<void>;
}

export async function mintTestToken(audience = 'test'): Promise<TestAuth> {
  const dir = await tempDir('percolate-auth-');
  const keys = [await generateJwk('EdDSA')];
  const keysFile = path.join(dir.dir, 'jwks.json');
  await fs.writeFile(keysFile, JSON.stringify({ keys }), { mode: 0o600 });
  const ring = await KeyRing.fromJwks({ keys }, 'test');
  return {
    env: { PERCOLATE_AUTH_KEYS_FILE: keysFile, PERCOLATE_AUTH_AUDIENCE: audience },
    token: (o) => mintToken(ring, { tenant: o.tenant, scope: o.scope, ttlS: o.ttlS ?? 600, sub: 'test', audience }),
    cleanup: dir.cleanup,
  };
}

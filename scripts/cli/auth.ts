// The key configuration the command line signs with, read exactly as the services read it (loadAuthConfig):
// PERCOLATE_AUTH_KEYS_FILE, else the local key file `<data dir>/keys/jwks.json` (PERCOLATE_DATA_DIR, default ./data),
// and the audience PERCOLATE_AUTH_AUDIENCE. Also what `npm start` does with it before any service starts.
import path from 'node:path';
import { loadAuthConfig, type AuthConfig } from '../../shared/config/auth-config.js';
import { ConfigError } from '../../shared/config/env.js';
import { KeyError, loadKeyRing, type KeyRing } from '../../shared/auth/keys.js';
import { mintToken } from '../../shared/auth/tokens.js';
import { CommandError } from './common.js';

/** The services' default: PERCOLATE_DATA_DIR, else ./data, resolved against the working directory. */
export function dataDirOf(env: NodeJS.ProcessEnv): string {
  return path.resolve(env.PERCOLATE_DATA_DIR || './data');
}

/** The auth configuration; a bad variable is a CommandError naming it. */
export function authConfigOf(env: NodeJS.ProcessEnv, dataDir = dataDirOf(env)): AuthConfig {
  try {
    return loadAuthConfig(env, dataDir);
  } catch (err) {
    if (err instanceof ConfigError) throw new CommandError(err.message);
    throw err;
  }
}

/** The file keys are read from and added to: PERCOLATE_AUTH_KEYS_FILE, else the local key file. */
export function keyFileOf(cfg: AuthConfig): string {
  return cfg.keysFile ?? cfg.localKeysFile;
}

export const CREATE_KEY_HINT = 'create one with `npx percolate keys generate` (a service started with auth required also creates the local one on first start)';

/** The key ring to sign with, never created here: no key anywhere is a CommandError that says how to make one. */
export async function signingRing(cfg: AuthConfig): Promise<{ ring: KeyRing; file: string }> {
  let loaded: Awaited<ReturnType<typeof loadKeyRing>>;
  try {
    loaded = await loadKeyRing({ keysFile: cfg.keysFile, localKeysFile: cfg.localKeysFile, createLocal: false });
  } catch (err) {
    if (err instanceof KeyError) throw new CommandError(`${err.message}; ${CREATE_KEY_HINT}`);
    throw err;
  }
  if (!loaded.file || loaded.ring.size === 0) {
    const where = loaded.file ?? cfg.localKeysFile;
    throw new CommandError(`no signing key: PERCOLATE_AUTH_KEYS_FILE is not set and ${where} ${loaded.file ? 'holds no key' : 'does not exist'}; ${CREATE_KEY_HINT}`);
  }
  return { ring: loaded.ring, file: loaded.file };
}

export interface StackAuth {
  mode: AuthConfig['mode'];
  /** Variables every service of the stack gets (PERCOLATE_AUTH_KEYS_FILE: all verify with the same keys). */
  serviceEnv: Record<string, string>;
  /** The worker's own token (PERCOLATE_API_TOKEN): `sub` worker, every tenant, rw. */
  workerEnv: Record<string, string>;
  /** The key file, and whether it was created now. */
  keysFile: string | undefined;
  created: boolean;
  /** Mints the token `npm start` prints once the stack is ready (undefined when auth is off). */
  demoToken: (() => Promise<string>) | undefined;
}

/** How long the worker's token of `npm start` lasts. */
export const WORKER_TOKEN_TTL_S = 30 * 86_400;
export const DEMO_TENANT = 'demo';
export const DEMO_TOKEN_TTL_S = 24 * 3600;

/**
 * What `npm start` does before it starts a service: with auth required, makes sure a signing key exists (the
 * configured PERCOLATE_AUTH_KEYS_FILE, else the local key file under the data directory, created when absent) and
 * points every service at it, and mints the worker's token; with auth off, nothing.
 */
export async function prepareStackAuth(env: NodeJS.ProcessEnv, dataDir: string): Promise<StackAuth> {
  const cfg = authConfigOf(env, dataDir);
  if (cfg.mode === 'off') return { mode: 'off', serviceEnv: {}, workerEnv: {}, keysFile: undefined, created: false, demoToken: undefined };
  let loaded: Awaited<ReturnType<typeof loadKeyRing>>;
  try {
    // created even with PERCOLATE_AUTH_JWKS_URL: the worker of the local stack needs a key to get a token from
    loaded = await loadKeyRing({ keysFile: cfg.keysFile, localKeysFile: cfg.localKeysFile, createLocal: true });
  } catch (err) {
    if (err instanceof KeyError) throw new CommandError(err.message);
    throw err;
  }
  const ring = loaded.ring;
  const file = loaded.file!;
  const mint = async (o: { tenant: string; sub: string; ttlS: number }) => {
    try {
      return await mintToken(ring, { ...o, scope: 'rw', audience: cfg.audience, claimNames: { tenant: cfg.tenantClaim, scope: cfg.scopeClaim } });
    } catch (err) {
      if (err instanceof KeyError) throw new CommandError(`${file}: ${err.message}; add one with \`npx percolate keys generate\``);
      throw err;
    }
  };
  const workerToken = await mint({ tenant: '*', sub: 'worker', ttlS: WORKER_TOKEN_TTL_S });
  return {
    mode: 'required',
    serviceEnv: { PERCOLATE_AUTH_KEYS_FILE: file },
    workerEnv: { PERCOLATE_API_TOKEN: workerToken },
    keysFile: file,
    created: loaded.created,
    demoToken: () => mint({ tenant: DEMO_TENANT, sub: 'demo', ttlS: DEMO_TOKEN_TTL_S }),
  };
}

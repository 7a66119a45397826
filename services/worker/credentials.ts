// The worker's own credentials for the database API: never a token taken from a job message (a job names a tenant,
// it grants nothing). PERCOLATE_API_TOKEN when it is set; otherwise, with PERCOLATE_AUTH=required, a token the worker
// mints itself from the installation's key ring (PERCOLATE_AUTH_KEYS_FILE, else the node's local key under
// PERCOLATE_DATA_DIR): `sub: worker`, every tenant (`*`), scope rw, valid one hour and minted again (with the key
// file read again, so a rotated key is picked up) before it expires. With PERCOLATE_AUTH=off it sends none.
// The token never appears in a log line, an error or a job's state.
import { KeyError, loadKeyRing, type KeyRing } from '../../shared/auth/keys.js';
import { mintToken } from '../../shared/auth/tokens.js';
import type { WorkerConfig } from '../../shared/config/ingest-config.js';

/** Lifetime of a minted worker token, and how long before its expiry it is replaced. */
export const WORKER_TOKEN_TTL_S = 3600;
export const WORKER_TOKEN_RENEW_BEFORE_S = 600;

export type CredentialSource = 'api_token' | 'minted' | 'none';

export interface WorkerCredentials {
  readonly source: CredentialSource;
  /** The bearer token for the next request; undefined: send none (auth off). */
  token(): Promise<string | undefined>;
  /** The database refused the token: a minted one is minted again (with the key file read again) next time. */
  refused(): void;
}

interface Log {
  warn(fields: object, msg: string): void;
}

export class CredentialsError extends Error {}

const NONE: WorkerCredentials = { source: 'none', token: async () => undefined, refused: () => undefined };

export interface CredentialOptions {
  /** The clock, in ms (tests). */
  nowMs?: () => number;
  log?: Log;
}

/** The worker's credentials for `cfg`; throws a CredentialsError naming what to configure when it has none. */
export async function workerCredentials(cfg: Pick<WorkerConfig, 'auth' | 'apiToken'>, opts: CredentialOptions = {}): Promise<WorkerCredentials> {
  if (cfg.apiToken !== undefined) {
    const token = cfg.apiToken;
    return { source: 'api_token', token: async () => token, refused: () => undefined };
  }
  if (cfg.auth.mode === 'off') return NONE;
  const where = { keysFile: cfg.auth.keysFile, localKeysFile: cfg.auth.localKeysFile, createLocal: false };
  const file = cfg.auth.keysFile ?? cfg.auth.localKeysFile;
  const missing = (why: string) =>
    new CredentialsError(
      'PERCOLATE_AUTH=required and no PERCOLATE_API_TOKEN: the worker mints its own token for the database with a private key ' +
        `(PERCOLATE_AUTH_KEYS_FILE, or the local key under the PERCOLATE_DATA_DIR of the node that created it), and ${why}`,
    );
  let ring: KeyRing;
  try {
    ({ ring } = await loadKeyRing(where));
  } catch (err) {
    throw missing(err instanceof KeyError ? err.message : `${file} could not be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (ring.size === 0) throw missing(`${file} does not exist`);
  try {
    ring.signingKey();
  } catch (err) {
    throw missing(`${file}: ${(err as Error).message}`);
  }
  return new MintedCredentials(ring, { audience: cfg.auth.audience, claimNames: { tenant: cfg.auth.tenantClaim, scope: cfg.auth.scopeClaim } }, where, opts.nowMs ?? Date.now, opts.log);
}

class MintedCredentials implements WorkerCredentials {
  readonly source = 'minted';
  private current: { token: string; exp: number } | undefined;
  private minting: Promise<string> | undefined;
  /** The ring was just read (at start): the first minting does not read it again. */
  private ringFresh = true;

  constructor(
    private ring: KeyRing,
    /** The installation's audience and claim names, as the database verifies them. */
    private readonly claims: { audience: string; claimNames: { tenant: string; scope: string } },
    private readonly where: Parameters<typeof loadKeyRing>[0],
    private readonly nowMs: () => number,
    private readonly log: Log | undefined,
  ) {}

  async token(): Promise<string> {
    const now = Math.floor(this.nowMs() / 1000);
    if (this.current && now < this.current.exp - WORKER_TOKEN_RENEW_BEFORE_S) return this.current.token;
    // concurrent requests share one minting
    this.minting ??= this.mint(now).finally(() => (this.minting = undefined));
    return this.minting;
  }

  refused(): void {
    this.current = undefined;
  }

  private async mint(now: number): Promise<string> {
    if (!this.ringFresh) {
      // a rotated key file: the newest key with private material signs; a file that cannot be read keeps the last ring
      try {
        const { ring } = await loadKeyRing(this.where);
        ring.signingKey();
        this.ring = ring;
      } catch (err) {
        this.log?.warn({ err: err instanceof KeyError ? err.message : String((err as Error).message) }, 'could not read the key file again; minting with the keys read before');
      }
    }
    this.ringFresh = false;
    const token = await mintToken(this.ring, { tenant: '*', scope: 'rw', sub: 'worker', ttlS: WORKER_TOKEN_TTL_S, ...this.claims, nowS: now });
    this.current = { token, exp: now + WORKER_TOKEN_TTL_S };
    return token;
  }
}

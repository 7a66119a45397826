// `percolate token`: mints a tenant-scoped token with the key the services verify with, and prints it alone on
// stdout (TOKEN=$(npx percolate token ...)). It never creates a key: with none it says how to make one.
import { TENANT_ID_PATTERN } from '../../shared/rem/tenant-id.js';
import { mintToken, parseTtl, SCOPES, type Scope } from '../../shared/auth/tokens.js';
import { KeyError } from '../../shared/auth/keys.js';
import { authConfigOf, signingRing } from './auth.js';
import { CommandError, readOptions, UsageError, type CliIo, type Command } from './common.js';

const USAGE = `usage: percolate token --tenant T --scope ro|rw|admin --ttl DURATION [--sub NAME] [--kid KID]

Prints a signed token (a JWT) for one tenant, or * for every tenant, on stdout:
  export TOKEN=$(npx percolate token --tenant demo --scope rw --ttl 1h)
  curl -H "Authorization: Bearer $TOKEN" ...

  --tenant T     a tenant id (a-z, 0-9, _ and -, at most 63) or * (operators, services)
  --scope S      ro (read), rw (read and write) or admin (tenant management too)
  --ttl D        lifetime: a number with s, m, h or d (90s, 15m, 1h, 7d)
  --sub NAME     who holds it (default cli)
  --kid KID      sign with this key (default: the newest key of the file)

Keys: PERCOLATE_AUTH_KEYS_FILE, else <PERCOLATE_DATA_DIR, default ./data>/keys/jwks.json; audience
PERCOLATE_AUTH_AUDIENCE (default percolate). Exit status 2 for a usage error, 1 when no key can sign.`;

/** Tokens longer than this are probably a mistake in the unit (a year). */
const TTL_MAX_S = 366 * 86_400;

export const tokenCommand: Command = {
  name: 'token',
  summary: 'mint a tenant-scoped token (--tenant, --scope, --ttl)',
  usage: USAGE,
  async run(argv: readonly string[], io: CliIo): Promise<number> {
    const { values, help } = readOptions(argv, ['tenant', 'scope', 'ttl', 'sub', 'kid'] as const, USAGE);
    if (help) {
      io.out(USAGE);
      return 0;
    }
    const { tenant, scope, ttl, sub, kid } = values;
    if (tenant === undefined) throw new UsageError('--tenant is required', USAGE);
    if (tenant !== '*' && !TENANT_ID_PATTERN.test(tenant)) throw new UsageError(`--tenant must be a tenant id (${TENANT_ID_PATTERN.source}) or *, got '${tenant}'`, USAGE);
    if (scope === undefined) throw new UsageError('--scope is required (ro, rw or admin)', USAGE);
    if (!SCOPES.includes(scope as Scope)) throw new UsageError(`--scope must be ro, rw or admin, got '${scope}'`, USAGE);
    if (ttl === undefined) throw new UsageError('--ttl is required (e.g. 1h)', USAGE);
    let ttlS: number;
    try {
      ttlS = parseTtl(ttl);
    } catch (err) {
      throw new UsageError(`--ttl: ${(err as Error).message}`, USAGE);
    }
    if (ttlS <= 0 || ttlS > TTL_MAX_S) throw new UsageError(`--ttl must be between 1s and 366d, got '${ttl}'`, USAGE);
    if (sub !== undefined && sub.length > 256) throw new UsageError('--sub must be at most 256 characters', USAGE);

    const cfg = authConfigOf(io.env);
    const { ring, file } = await signingRing(cfg);
    if (cfg.mode === 'off') io.err('note: PERCOLATE_AUTH=off: services started with this setting accept requests without a token');
    let token: string;
    try {
      token = await mintToken(ring, { tenant, scope: scope as Scope, ttlS, audience: cfg.audience, claimNames: { tenant: cfg.tenantClaim, scope: cfg.scopeClaim }, ...(sub !== undefined ? { sub } : {}), ...(kid !== undefined ? { kid } : {}) });
    } catch (err) {
      if (err instanceof KeyError) throw new CommandError(`${file}: ${err.message} (kids: ${ring.kids.join(', ') || 'none'})`);
      throw err;
    }
    io.out(token);
    return 0;
  },
};

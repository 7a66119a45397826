// What `npm start` (scripts/start.ts) does about auth before any service starts, in process: with auth required it
// creates the local key under the data directory when there is none (mode 0600), points every service at it with
// PERCOLATE_AUTH_KEYS_FILE, gives the worker a token of its own (`sub` worker, tenant *, rw) and mints the demo token
// it prints (tenant demo, rw, 24 h), all for the configured audience; a configured PERCOLATE_AUTH_KEYS_FILE is used
// and nothing is created; with PERCOLATE_AUTH=off nothing happens.
import fs from 'node:fs/promises';
import path from 'node:path';
import { decodeJwt } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { addKeyToFile, generateJwk, KeyRing, readJwksFile } from '../shared/auth/keys.js';
import { TokenVerifier } from '../shared/auth/tokens.js';
import { DEMO_TOKEN_TTL_S, prepareStackAuth, WORKER_TOKEN_TTL_S } from '../scripts/cli/auth.js';
import { CommandError } from '../scripts/cli/common.js';
import { tempDir } from './support/tmp.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  tmp = await tempDir('percolate-stack-auth-');
});
afterEach(async () => {
  await tmp.cleanup();
});

async function verify(file: string, token: string, audience = 'percolate') {
  const ring = await KeyRing.fromJwks(await readJwksFile(file), file);
  return new TokenVerifier({ ring, audience, tenantClaim: 'tenant', scopeClaim: 'scope', leewayS: 0, cacheMax: 0, cacheTtlMs: 0 }).verify(token);
}

describe('npm start: auth before the services start', () => {
  it('creates the local key once, passes its file to every service and mints the worker and demo tokens', async () => {
    const dataDir = path.join(tmp.dir, 'data');
    const local = path.join(dataDir, 'keys', 'jwks.json');
    const now = Math.floor(Date.now() / 1000);
    const a = await prepareStackAuth({}, dataDir);
    expect(a.mode).toBe('required');
    expect(a.created).toBe(true);
    expect(a.keysFile).toBe(local);
    expect(a.serviceEnv).toEqual({ PERCOLATE_AUTH_KEYS_FILE: local });
    expect((await fs.stat(local)).mode & 0o777).toBe(0o600);
    const kids = (await readJwksFile(local))!.keys.map((k) => k.kid);
    expect(kids).toHaveLength(1);

    const worker = a.workerEnv.PERCOLATE_API_TOKEN!;
    expect(Object.keys(a.workerEnv)).toEqual(['PERCOLATE_API_TOKEN']);
    expect(await verify(local, worker)).toMatchObject({ tenant: '*', scope: 'rw', sub: 'worker' });
    const wp = decodeJwt(worker);
    expect(wp.exp! - wp.iat!).toBe(WORKER_TOKEN_TTL_S);
    expect(wp.iat!).toBeGreaterThanOrEqual(now);

    const demo = await a.demoToken!();
    expect(await verify(local, demo)).toMatchObject({ tenant: 'demo', scope: 'rw', sub: 'demo' });
    const dp = decodeJwt(demo);
    expect(dp.exp! - dp.iat!).toBe(24 * 3600);
    expect(DEMO_TOKEN_TTL_S).toBe(24 * 3600);

    // a second start keeps the key
    const b = await prepareStackAuth({}, dataDir);
    expect(b.created).toBe(false);
    expect((await readJwksFile(local))!.keys.map((k) => k.kid)).toEqual(kids);
    expect(await verify(local, b.workerEnv.PERCOLATE_API_TOKEN!)).toMatchObject({ sub: 'worker' });
  });

  it('uses PERCOLATE_AUTH_KEYS_FILE and PERCOLATE_AUTH_AUDIENCE, and creates no local key then', async () => {
    const dataDir = path.join(tmp.dir, 'data');
    const configured = path.join(tmp.dir, 'secret.json');
    const jwk = await generateJwk('HS256');
    await addKeyToFile(configured, jwk);
    const a = await prepareStackAuth({ PERCOLATE_AUTH_KEYS_FILE: configured, PERCOLATE_AUTH_AUDIENCE: 'install-9' }, dataDir);
    expect(a.created).toBe(false);
    expect(a.serviceEnv).toEqual({ PERCOLATE_AUTH_KEYS_FILE: configured });
    await expect(fs.stat(path.join(dataDir, 'keys'))).rejects.toThrow(/ENOENT/);
    expect(await verify(configured, a.workerEnv.PERCOLATE_API_TOKEN!, 'install-9')).toMatchObject({ tenant: '*', sub: 'worker' });
    expect(await verify(configured, await a.demoToken!(), 'install-9')).toMatchObject({ tenant: 'demo' });
    // a configured file that does not exist is an error, not a silently created key
    await expect(prepareStackAuth({ PERCOLATE_AUTH_KEYS_FILE: path.join(tmp.dir, 'none.json') }, dataDir)).rejects.toThrow(CommandError);
  });

  it('with PERCOLATE_AUTH=off creates nothing and gives no token; a bad PERCOLATE_AUTH is refused', async () => {
    const dataDir = path.join(tmp.dir, 'data');
    const a = await prepareStackAuth({ PERCOLATE_AUTH: 'off' }, dataDir);
    expect(a).toMatchObject({ mode: 'off', serviceEnv: {}, workerEnv: {}, demoToken: undefined });
    await expect(fs.stat(dataDir)).rejects.toThrow(/ENOENT/);
    await expect(prepareStackAuth({ PERCOLATE_AUTH: 'maybe' }, dataDir)).rejects.toThrow('PERCOLATE_AUTH must be required or off');
  });
});

// The `percolate` command as a process (bin/percolate.js, and once through `npx percolate`): a minted token verifies
// with the key ring and verifier the services use, with the tenant, scope, sub, kid, audience and expiry asked for;
// `keys generate` adds a key (mode 0600, only the kid on stdout) that signs by default afterwards while --kid still
// picks the old one; PERCOLATE_AUTH_KEYS_FILE wins over the local key file; no key is exit 1 with a hint; usage
// errors are exit 2 with a message and nothing on stdout.
import fs from 'node:fs/promises';
import path from 'node:path';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyRing, readJwksFile } from '../shared/auth/keys.js';
import { TokenVerifier } from '../shared/auth/tokens.js';
import { runPercolate, type Run } from './support/cli.js';
import { tempDir } from './support/tmp.js';

function run(args: string[], env: Record<string, string>, command: 'bin' | 'npx' = 'bin'): Promise<Run> {
  return runPercolate(args, { env, npx: command === 'npx' });
}

async function verifierFor(file: string, audience = 'percolate') {
  const ring = await KeyRing.fromJwks(await readJwksFile(file), file);
  return new TokenVerifier({ ring, audience, tenantClaim: 'tenant', scopeClaim: 'scope', leewayS: 0, cacheMax: 0, cacheTtlMs: 0 });
}

let tmp: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  tmp = await tempDir('percolate-cli-');
});
afterAll(async () => {
  await tmp.cleanup();
});

describe('percolate token and keys generate', () => {
  it('without a key exits 1 saying how to create one, and creates nothing', async () => {
    const dataDir = path.join(tmp.dir, 'nokey');
    const r = await run(['token', '--tenant', 'demo', '--scope', 'rw', '--ttl', '1h'], { PERCOLATE_DATA_DIR: dataDir });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(path.join(dataDir, 'keys', 'jwks.json'));
    expect(r.stderr).toContain('percolate keys generate');
    await expect(fs.stat(dataDir)).rejects.toThrow(/ENOENT/);
    // a configured key file that does not exist is named too
    const missing = path.join(tmp.dir, 'missing.json');
    const m = await run(['token', '--tenant', 'demo', '--scope', 'rw', '--ttl', '1h'], { PERCOLATE_DATA_DIR: dataDir, PERCOLATE_AUTH_KEYS_FILE: missing });
    expect(m.code).toBe(1);
    expect(m.stderr).toContain(`PERCOLATE_AUTH_KEYS_FILE ${missing} does not exist`);
  });

  it('keys generate writes a 0600 key file and prints only the kid; token prints a token that verifies as asked', async () => {
    const dataDir = path.join(tmp.dir, 'local');
    const env = { PERCOLATE_DATA_DIR: dataDir };
    const file = path.join(dataDir, 'keys', 'jwks.json');
    const g = await run(['keys', 'generate'], env);
    expect(g.code, g.stderr).toBe(0);
    const kid = g.stdout.trim();
    expect(g.stdout).toBe(`${kid}\n`);
    expect(kid).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    const jwks = (await readJwksFile(file))!;
    expect(jwks.keys.map((k) => k.kid)).toEqual([kid]);
    const secret = jwks.keys[0]!.d!;
    expect(secret.length).toBeGreaterThan(20);
    expect(g.stdout + g.stderr).not.toContain(secret);

    const before = Math.floor(Date.now() / 1000);
    const t = await run(['token', '--tenant', 'acme', '--scope', 'ro', '--ttl', '90m', '--sub', 'alice'], env);
    expect(t.code, t.stderr).toBe(0);
    const token = t.stdout.trim();
    expect(t.stdout).toBe(`${token}\n`); // the token alone: TOKEN=$(npx percolate token ...)
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'EdDSA', kid });
    const claims = await (await verifierFor(file)).verify(token);
    expect(claims).toMatchObject({ tenant: 'acme', scope: 'ro', sub: 'alice' });
    const payload = decodeJwt(token);
    expect(payload.aud).toBe('percolate');
    expect(payload.exp! - payload.iat!).toBe(90 * 60);
    expect(payload.iat!).toBeGreaterThanOrEqual(before);
    expect(payload.iat!).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));

    // every tenant, the default sub, another audience, days
    const star = await run(['token', '--tenant=*', '--scope=admin', '--ttl=2d'], { ...env, PERCOLATE_AUTH_AUDIENCE: 'install-7' });
    expect(star.code, star.stderr).toBe(0);
    expect(await (await verifierFor(file, 'install-7')).verify(star.stdout.trim())).toMatchObject({ tenant: '*', scope: 'admin', sub: 'cli' });
    await expect((await verifierFor(file)).verify(star.stdout.trim())).rejects.toMatchObject({ code: 'token_audience' });
    const p = decodeJwt(star.stdout.trim());
    expect(p.exp! - p.iat!).toBe(2 * 86_400);
  });

  it('a generated key signs by default afterwards, and --kid still signs with the old one', async () => {
    const dataDir = path.join(tmp.dir, 'rotate');
    const env = { PERCOLATE_DATA_DIR: dataDir };
    const file = path.join(dataDir, 'keys', 'jwks.json');
    const oldKid = (await run(['keys', 'generate'], env)).stdout.trim();
    const g = await run(['keys', 'generate', '--alg', 'HS256'], env);
    expect(g.code, g.stderr).toBe(0);
    const newKid = g.stdout.trim();
    expect(newKid).not.toBe(oldKid);
    const jwks = (await readJwksFile(file))!;
    expect(jwks.keys.map((k) => k.kid)).toEqual([oldKid, newKid]);
    expect(g.stdout + g.stderr).not.toContain(jwks.keys[1]!.k!);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);

    const v = await verifierFor(file);
    const fresh = (await run(['token', '--tenant', 'demo', '--scope', 'rw', '--ttl', '1h'], env)).stdout.trim();
    expect(decodeProtectedHeader(fresh)).toMatchObject({ alg: 'HS256', kid: newKid });
    expect(await v.verify(fresh)).toMatchObject({ tenant: 'demo', scope: 'rw' });
    const old = await run(['token', '--tenant', 'demo', '--scope', 'rw', '--ttl', '1h', '--kid', oldKid], env);
    expect(old.code, old.stderr).toBe(0);
    expect(decodeProtectedHeader(old.stdout.trim())).toMatchObject({ alg: 'EdDSA', kid: oldKid });
    expect(await v.verify(old.stdout.trim())).toMatchObject({ tenant: 'demo', scope: 'rw' });

    const unknown = await run(['token', '--tenant', 'demo', '--scope', 'rw', '--ttl', '1h', '--kid', 'nope'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toContain("no key with kid 'nope'");

    const list = await run(['keys', 'list'], env);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toBe(`${oldKid}\tEdDSA\tprivate\n${newKid}\tHS256\tprivate\tsigns by default\n`);
  });

  it('PERCOLATE_AUTH_KEYS_FILE is honoured over the local key file, by keys generate and by token', async () => {
    const dataDir = path.join(tmp.dir, 'configured');
    const localFile = path.join(dataDir, 'keys', 'jwks.json');
    const localKid = (await run(['keys', 'generate'], { PERCOLATE_DATA_DIR: dataDir })).stdout.trim();
    const configured = path.join(tmp.dir, 'secret', 'jwks.json');
    const env = { PERCOLATE_DATA_DIR: dataDir, PERCOLATE_AUTH_KEYS_FILE: configured };
    const g = await run(['keys', 'generate'], env);
    expect(g.code, g.stderr).toBe(0);
    const kid = g.stdout.trim();
    expect((await readJwksFile(configured))!.keys.map((k) => k.kid)).toEqual([kid]);
    expect((await readJwksFile(localFile))!.keys.map((k) => k.kid)).toEqual([localKid]); // untouched
    expect((await fs.stat(configured)).mode & 0o777).toBe(0o600);

    const t = await run(['token', '--tenant', 'demo', '--scope', 'rw', '--ttl', '1h'], env);
    expect(t.code, t.stderr).toBe(0);
    expect(decodeProtectedHeader(t.stdout.trim()).kid).toBe(kid);
    expect(await (await verifierFor(configured)).verify(t.stdout.trim())).toMatchObject({ tenant: 'demo' });
    await expect((await verifierFor(localFile)).verify(t.stdout.trim())).rejects.toMatchObject({ code: 'token_unknown_key' });

    // --file names another file still
    const other = path.join(tmp.dir, 'other.json');
    const o = await run(['keys', 'generate', '--file', other], env);
    expect(o.code, o.stderr).toBe(0);
    expect((await readJwksFile(other))!.keys.map((k) => k.kid)).toEqual([o.stdout.trim()]);
    expect((await readJwksFile(configured))!.keys).toHaveLength(1);
  });

  it('usage errors exit 2 with a message and the usage, and nothing on stdout', async () => {
    const dataDir = path.join(tmp.dir, 'usage');
    const env = { PERCOLATE_DATA_DIR: dataDir };
    expect((await run(['keys', 'generate'], env)).code).toBe(0); // a key exists: only the arguments are wrong
    const cases: [string[], string][] = [
      [[], 'a command is required'],
      [['frobnicate'], "unknown command 'frobnicate'"],
      [['token', '--scope', 'rw', '--ttl', '1h'], '--tenant is required'],
      [['token', '--tenant', 'demo', '--ttl', '1h'], '--scope is required'],
      [['token', '--tenant', 'demo', '--scope', 'rw'], '--ttl is required'],
      [['token', '--tenant', 'demo', '--scope', 'write', '--ttl', '1h'], "--scope must be ro, rw or admin, got 'write'"],
      [['token', '--tenant', 'demo', '--scope', 'rw', '--ttl', '1y'], "--ttl: a duration must be a number with s, m, h or d (e.g. 1h), got '1y'"],
      [['token', '--tenant', 'demo', '--scope', 'rw', '--ttl', '0s'], '--ttl must be between 1s and 366d'],
      [['token', '--tenant', 'Not A Tenant', '--scope', 'rw', '--ttl', '1h'], "--tenant must be a tenant id"],
      [['token', '--tenant', 'demo', '--scope', 'rw', '--ttl', '1h', '--bogus'], "unknown argument '--bogus'"],
      [['token', '--tenant', 'demo', '--scope', 'rw', '--ttl', '1h', 'extra'], "unexpected argument 'extra'"],
      [['token', '--tenant', '--scope', 'rw', '--ttl', '1h'], '--tenant needs a value'],
      [['token', '--tenant', 'demo', '--scope', 'rw', '--ttl'], '--ttl needs a value'],
      [['keys'], 'keys needs a subcommand'],
      [['keys', 'rotate'], "unknown keys subcommand 'rotate'"],
      [['keys', 'generate', '--alg', 'RS256'], "--alg must be EdDSA or HS256, got 'RS256'"],
    ];
    const results = await Promise.all(cases.map(([args]) => run(args, env)));
    for (const [i, [args, message]] of cases.entries()) {
      const r = results[i]!;
      expect({ args, code: r.code, stdout: r.stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(r.stderr, args.join(' ')).toContain(`percolate: ${message}`);
      expect(r.stderr, args.join(' ')).toContain('usage: percolate');
    }
  });

  it('help goes to stdout with exit 0', async () => {
    const top = await run(['--help'], {});
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/usage: percolate <command>[\s\S]*token[\s\S]*keys/);
    const token = await run(['token', '--help'], {});
    expect(token.code).toBe(0);
    expect(token.stdout).toContain('--ttl D');
  });

  it('npx percolate runs the checkout\'s own command (package.json bin)', async () => {
    const dataDir = path.join(tmp.dir, 'npx');
    const kid = (await run(['keys', 'generate'], { PERCOLATE_DATA_DIR: dataDir }, 'npx')).stdout.trim();
    const r = await run(['token', '--tenant', 'demo', '--scope', 'rw', '--ttl', '5m'], { PERCOLATE_DATA_DIR: dataDir }, 'npx');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${r.stdout.trim()}\n`); // npm's own notes go to stderr
    expect(decodeProtectedHeader(r.stdout.trim()).kid).toBe(kid);
    expect(await (await verifierFor(path.join(dataDir, 'keys', 'jwks.json'))).verify(r.stdout.trim())).toMatchObject({ tenant: 'demo', scope: 'rw', sub: 'cli' });
  });
});

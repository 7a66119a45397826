// Signing and verification keys: a JWK set, from a configured file (a Kubernetes Secret mounted as a file) or a
// local file created on first start. Several keys are active at once, told apart by `kid`, so a key is rotated
// without downtime: add a new key, mint new tokens with it, remove the old key once its tokens expired.
// Key material never appears in a log line, an error or a metric.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, generateSecret, importJWK, type JWK } from 'jose';

/** The algorithms tokens may use: HMAC with a shared secret, or Ed25519 signatures. */
export const TOKEN_ALGORITHMS = ['HS256', 'EdDSA'] as const;
export type TokenAlgorithm = (typeof TOKEN_ALGORITHMS)[number];

type KeyMaterial = Awaited<ReturnType<typeof importJWK>>;

interface RingKey {
  kid: string;
  alg: TokenAlgorithm;
  /** Verifies signatures (the public half of an Ed25519 key; the secret of an HS256 key). */
  verify: KeyMaterial;
  /** Signs, when the file holds private material. */
  sign: KeyMaterial | undefined;
}

export class KeyError extends Error {}

/** The keys of one installation, by kid. */
export class KeyRing {
  private constructor(
    private readonly byKid: Map<string, RingKey>,
    /** kids in file order: the last key with private material signs by default (the newest). */
    readonly kids: readonly string[],
  ) {}

  static empty(): KeyRing {
    return new KeyRing(new Map(), []);
  }

  static async fromJwks(jwks: unknown, where: string): Promise<KeyRing> {
    if (!jwks || typeof jwks !== 'object' || !Array.isArray((jwks as { keys?: unknown }).keys)) {
      throw new KeyError(`${where}: a JWK set must be an object with a "keys" array`);
    }
    const byKid = new Map<string, RingKey>();
    const kids: string[] = [];
    for (const [i, raw] of ((jwks as { keys: unknown[] }).keys).entries()) {
      const jwk = raw as JWK;
      const at = `${where}: keys[${i}]`;
      if (typeof jwk !== 'object' || jwk === null) throw new KeyError(`${at} must be an object`);
      if (typeof jwk.kid !== 'string' || jwk.kid.length === 0) throw new KeyError(`${at} needs a "kid"`);
      if (byKid.has(jwk.kid)) throw new KeyError(`${at}: kid '${jwk.kid}' appears twice`);
      const alg = (jwk.alg ?? (jwk.kty === 'oct' ? 'HS256' : jwk.kty === 'OKP' ? 'EdDSA' : undefined)) as string | undefined;
      if (alg === 'HS256' && jwk.kty === 'oct' && typeof jwk.k === 'string') {
        const secret = await importJWK({ kty: 'oct', k: jwk.k }, 'HS256');
        if ((secret as Uint8Array).byteLength < 32) throw new KeyError(`${at} (kid '${jwk.kid}'): an HS256 secret needs at least 32 bytes`);
        byKid.set(jwk.kid, { kid: jwk.kid, alg: 'HS256', verify: secret, sign: secret });
      } else if (alg === 'EdDSA' && jwk.kty === 'OKP' && jwk.crv === 'Ed25519' && typeof jwk.x === 'string') {
        const verify = await importJWK({ kty: 'OKP', crv: 'Ed25519', x: jwk.x }, 'EdDSA');
        const sign = typeof jwk.d === 'string' ? await importJWK({ kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d }, 'EdDSA') : undefined;
        byKid.set(jwk.kid, { kid: jwk.kid, alg: 'EdDSA', verify, sign });
      } else {
        throw new KeyError(`${at} (kid '${jwk.kid}'): only HS256 (kty oct) and EdDSA (kty OKP, crv Ed25519) keys are accepted`);
      }
      kids.push(jwk.kid);
    }
    return new KeyRing(byKid, kids);
  }

  get size(): number {
    return this.byKid.size;
  }

  /** The verification key of `kid` for `alg`, or undefined (an unknown kid, or a key of another algorithm). */
  verificationKey(kid: string, alg: string): KeyMaterial | undefined {
    const k = this.byKid.get(kid);
    return k && k.alg === alg ? k.verify : undefined;
  }

  /** The key that signs: `kid` when given, else the newest key with private material. */
  signingKey(kid?: string): { kid: string; alg: TokenAlgorithm; key: KeyMaterial } {
    if (kid !== undefined) {
      const k = this.byKid.get(kid);
      if (!k) throw new KeyError(`no key with kid '${kid}'`);
      if (!k.sign) throw new KeyError(`key '${kid}' holds no private material and cannot sign`);
      return { kid, alg: k.alg, key: k.sign };
    }
    for (let i = this.kids.length - 1; i >= 0; i--) {
      const k = this.byKid.get(this.kids[i]!)!;
      if (k.sign) return { kid: k.kid, alg: k.alg, key: k.sign };
    }
    throw new KeyError('no key with private material to sign with');
  }
}

/** A new private JWK (with kid and alg) for `alg`: Ed25519 by default. */
export async function generateJwk(alg: TokenAlgorithm = 'EdDSA'): Promise<JWK> {
  if (alg === 'HS256') {
    const secret = await generateSecret('HS256', { extractable: true });
    const jwk = await exportJWK(secret);
    return { ...jwk, alg, kid: `hs-${randomUUID()}` };
  }
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint({ kty: jwk.kty!, crv: jwk.crv!, x: jwk.x! });
  return { ...jwk, alg, kid };
}

/** Reads a JWK set file (undefined when it does not exist). */
export async function readJwksFile(file: string): Promise<{ keys: JWK[] } | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as { keys: JWK[] };
  } catch {
    throw new KeyError(`${file} is not a JSON JWK set`);
  }
}

/** Adds a key to a JWK set file (created if absent), written to a temporary file and renamed, mode 0600. */
export async function addKeyToFile(file: string, jwk: JWK): Promise<void> {
  const current = (await readJwksFile(file)) ?? { keys: [] };
  await KeyRing.fromJwks({ keys: [...current.keys, jwk] }, file); // refuses a bad or duplicate key before writing
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, JSON.stringify({ keys: [...current.keys, jwk] }, null, 2) + '\n', { mode: 0o600 });
  await fs.rename(tmp, file);
}

/**
 * The key ring a service verifies with and the CLI signs with: the configured key file, else the local file under
 * the data directory; with `createLocal` (auth required and no key and no JWKS configured) a local Ed25519 key is
 * created there on first start. `created` says so, so the service can log it (never the key).
 */
export async function loadKeyRing(opts: { keysFile: string | undefined; localKeysFile: string; createLocal: boolean }): Promise<{
  ring: KeyRing;
  file: string | undefined;
  created: boolean;
}> {
  if (opts.keysFile) {
    const jwks = await readJwksFile(opts.keysFile);
    if (!jwks) throw new KeyError(`PERCOLATE_AUTH_KEYS_FILE ${opts.keysFile} does not exist`);
    return { ring: await KeyRing.fromJwks(jwks, opts.keysFile), file: opts.keysFile, created: false };
  }
  const local = await readJwksFile(opts.localKeysFile);
  if (local) return { ring: await KeyRing.fromJwks(local, opts.localKeysFile), file: opts.localKeysFile, created: false };
  if (!opts.createLocal) return { ring: KeyRing.empty(), file: undefined, created: false };
  await addKeyToFile(opts.localKeysFile, await generateJwk('EdDSA'));
  const created = (await readJwksFile(opts.localKeysFile))!;
  return { ring: await KeyRing.fromJwks(created, opts.localKeysFile), file: opts.localKeysFile, created: true };
}

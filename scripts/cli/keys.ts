// `percolate keys`: the signing keys of the installation. `generate` adds a key to the key file (for a first key or a
// rotation) and prints its kid; `list` prints the kids. Neither ever prints key material.
import path from 'node:path';
import { addKeyToFile, generateJwk, KeyError, KeyRing, readJwksFile, TOKEN_ALGORITHMS, type TokenAlgorithm } from '../../shared/auth/keys.js';
import { authConfigOf, keyFileOf } from './auth.js';
import { CommandError, readOptions, UsageError, type CliIo, type Command } from './common.js';

const USAGE = `usage: percolate keys generate [--alg EdDSA|HS256] [--file F]
       percolate keys list [--file F]

generate  adds a new signing key to the key file (created with mode 0600 if absent) and prints its kid; from then
          on \`percolate token\` signs with it (the newest key), and tokens of the older keys still verify.
          --alg EdDSA (Ed25519, default) or HS256 (a shared secret)
list      prints the kid, algorithm and whether it can sign, of every key in the file, oldest first

The key file: --file, else PERCOLATE_AUTH_KEYS_FILE, else <PERCOLATE_DATA_DIR, default ./data>/keys/jwks.json.
Services read the key file when they start. Rotation: generate a key, restart the services, mint new tokens,
and remove the old key from the file once the tokens it signed have expired.`;

async function fileOf(values: { file?: string }, io: CliIo): Promise<string> {
  return values.file !== undefined ? path.resolve(values.file) : keyFileOf(authConfigOf(io.env));
}

async function generate(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, help } = readOptions(argv, ['alg', 'file'] as const, USAGE);
  if (help) {
    io.out(USAGE);
    return 0;
  }
  const alg = (values.alg ?? 'EdDSA') as TokenAlgorithm;
  if (!TOKEN_ALGORITHMS.includes(alg)) throw new UsageError(`--alg must be EdDSA or HS256, got '${values.alg}'`, USAGE);
  const file = await fileOf(values, io);
  const jwk = await generateJwk(alg);
  try {
    await addKeyToFile(file, jwk);
  } catch (err) {
    if (err instanceof KeyError) throw new CommandError(err.message);
    const e = err as NodeJS.ErrnoException;
    if (e.code) throw new CommandError(`cannot write ${file}: ${e.code} ${e.message}`);
    throw err;
  }
  io.out(jwk.kid!);
  io.err(`added ${alg} key ${jwk.kid} to ${file}; it signs new tokens from now on (restart the services so they accept them)`);
  return 0;
}

async function list(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, help } = readOptions(argv, ['file'] as const, USAGE);
  if (help) {
    io.out(USAGE);
    return 0;
  }
  const file = await fileOf(values, io);
  let jwks: Awaited<ReturnType<typeof readJwksFile>>;
  let ring: KeyRing;
  try {
    jwks = await readJwksFile(file);
    if (!jwks) throw new CommandError(`${file} does not exist; create a key with \`npx percolate keys generate\``);
    ring = await KeyRing.fromJwks(jwks, file); // the same checks as the services
  } catch (err) {
    if (err instanceof KeyError) throw new CommandError(err.message);
    throw err;
  }
  let signer: string | undefined;
  try {
    signer = ring.signingKey().kid;
  } catch {
    signer = undefined; // public keys only
  }
  for (const k of jwks.keys) {
    const canSign = typeof k.d === 'string' || k.kty === 'oct';
    io.out(`${k.kid}\t${k.alg ?? (k.kty === 'oct' ? 'HS256' : 'EdDSA')}\t${canSign ? 'private' : 'public'}${k.kid === signer ? '\tsigns by default' : ''}`);
  }
  return 0;
}

export const keysCommand: Command = {
  name: 'keys',
  summary: 'signing keys: generate (add a key, for rotation), list',
  usage: USAGE,
  async run(argv: readonly string[], io: CliIo): Promise<number> {
    const [sub, ...rest] = argv;
    if (sub === 'generate') return generate(rest, io);
    if (sub === 'list') return list(rest, io);
    if (sub === undefined) throw new UsageError('keys needs a subcommand: generate or list', USAGE);
    if (sub === '--help' || sub === 'help') {
      io.out(USAGE);
      return 0;
    }
    throw new UsageError(`unknown keys subcommand '${sub}' (expected generate or list)`, USAGE);
  },
};

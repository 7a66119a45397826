// What every subcommand of `percolate` shares: its input and output (so a command writes only where it is told), the
// usage error (exit status 2, with the command's usage text), and reading `--name value` options through
// scripts/cli-args.ts in the order they were given.
import { readArgs, type CliOptions } from '../cli-args.js';

export interface CliIo {
  env: NodeJS.ProcessEnv;
  /** The result only (a token, a kid): what `$(npx percolate ...)` captures. */
  out: (line: string) => void;
  /** Notes, warnings and errors. */
  err: (line: string) => void;
}

export interface Command {
  name: string;
  /** One line for the list of commands. */
  summary: string;
  /** The full usage text (`percolate <name> --help`). */
  usage: string;
  /** Resolves with the exit status: 0, 1 (the command failed), 2 (a usage error, thrown as UsageError). */
  run(argv: readonly string[], io: CliIo): Promise<number>;
}

/** A mistake in the command line: the message and the usage text go to stderr, and the exit status is 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly usage: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A failure that is not the command line's fault (no key, an unreadable key file): a message, exit status 1. */
export class CommandError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommandError';
  }
}

/**
 * The values of a command's string options (the last one given wins) and whether `--help` was asked for. Anything
 * undeclared, a positional argument, a short option or a missing value is a UsageError.
 */
export function readOptions<K extends string>(argv: readonly string[], names: readonly K[], usage: string): { values: Partial<Record<K, string>>; help: boolean } {
  const options: CliOptions = { help: { type: 'boolean' } };
  for (const n of names) options[n] = { type: 'string' };
  const args = readArgs(argv, options, (raw) => new UsageError(`unknown argument '${raw}'`, usage));
  const values: Partial<Record<K, string>> = {};
  let help = false;
  for (const a of args) {
    if (a.kind === 'positional') throw new UsageError(`unexpected argument '${a.raw}'`, usage);
    if (a.name === 'help') {
      help = true;
      continue;
    }
    // `--tenant` last, or `--tenant --scope rw` (parseArgs then gives --tenant the value '--scope')
    if (a.value === undefined || a.value === '' || (a.value.startsWith('--') && a.raw === `--${a.name}`)) {
      throw new UsageError(`--${a.name} needs a value`, usage);
    }
    values[a.name as K] = a.value;
  }
  return { values, help };
}

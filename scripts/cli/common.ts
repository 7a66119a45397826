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
  /**
   * The terminal streams, for what lines cannot do: the interactive prompt of `query` (stdin) and the progress line
   * of `upload` (stderr). Default: the process's own (process.stdin, process.stderr).
   */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
  stderr?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
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
  const { values, help } = readCommandLine(argv, { strings: names, flags: [], positionalsMax: 0 }, usage);
  return { values, help };
}

export interface CommandLine<K extends string, F extends string> {
  values: Partial<Record<K, string>>;
  /** The boolean flags given (`--json`). */
  flags: Set<F>;
  positionals: string[];
  help: boolean;
}

/**
 * readOptions with boolean flags and up to `positionalsMax` positional arguments (a statement, file names, a job
 * id), in any order among the options; one more is a UsageError.
 */
export function readCommandLine<K extends string, F extends string>(
  argv: readonly string[],
  spec: { strings: readonly K[]; flags: readonly F[]; positionalsMax: number },
  usage: string,
): CommandLine<K, F> {
  const options: CliOptions = { help: { type: 'boolean' } };
  for (const n of spec.strings) options[n] = { type: 'string' };
  for (const n of spec.flags) options[n] = { type: 'boolean' };
  const args = readArgs(argv, options, (raw) => new UsageError(`unknown argument '${raw}'`, usage));
  const values: Partial<Record<K, string>> = {};
  const flags = new Set<F>();
  const positionals: string[] = [];
  let help = false;
  for (const a of args) {
    if (a.kind === 'positional') {
      if (positionals.length >= spec.positionalsMax) throw new UsageError(`unexpected argument '${a.raw}'`, usage);
      positionals.push(a.value);
      continue;
    }
    if (a.name === 'help') {
      help = true;
      continue;
    }
    if ((spec.flags as readonly string[]).includes(a.name)) {
      if (a.value !== undefined) throw new UsageError(`--${a.name} takes no value`, usage);
      flags.add(a.name as F);
      continue;
    }
    // `--tenant` last, or `--tenant --scope rw` (parseArgs then gives --tenant the value '--scope')
    if (a.value === undefined || a.value === '' || (a.value.startsWith('--') && a.raw === `--${a.name}`)) {
      throw new UsageError(`--${a.name} needs a value`, usage);
    }
    values[a.name as K] = a.value;
  }
  return { values, flags, positionals, help };
}

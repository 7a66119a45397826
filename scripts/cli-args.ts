// Command-line arguments of the benchmarks and scripts, read by node:util parseArgs: long options as `--name value` or
// `--name=value`, boolean flags, positionals. Each command keeps its own checks (and error messages) on top, in the
// order the arguments were given; anything it does not declare is refused with the command's own message.
import { parseArgs } from 'node:util';

export type CliOptions = Record<string, { type: 'boolean' | 'string' }>;

export type CliArg =
  | { kind: 'option'; name: string; value: string | undefined; raw: string }
  | { kind: 'positional'; value: string; raw: string };

/**
 * The arguments in order. A declared string option takes the next argument as its value when not given inline (so
 * `--count --quick` gives count the value `--quick`, for the command to refuse); a boolean option's inline value is
 * kept in `value` and may be ignored. An undeclared option, a short option and `--` itself go to `unknown` with the
 * argument as it was written.
 */
export function readArgs(argv: readonly string[], options: CliOptions, unknown: (raw: string) => Error): CliArg[] {
  const { tokens } = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
  const out: CliArg[] = [];
  for (const t of tokens) {
    const raw = argv[t.index]!;
    if (t.kind === 'option-terminator') throw unknown(raw);
    if (t.kind === 'positional') {
      out.push({ kind: 'positional', value: t.value, raw });
      continue;
    }
    if (!t.rawName.startsWith('--') || !Object.hasOwn(options, t.name)) throw unknown(raw);
    out.push({ kind: 'option', name: t.name, value: t.value, raw });
  }
  return out;
}

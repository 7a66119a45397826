// The `percolate` command line: one entry (scripts/percolate.ts, run through bin/percolate.js) and one module per
// subcommand under scripts/cli/. A new subcommand (query, upload, ...) is a module exporting a Command, listed here.
import { jobsCommand } from './jobs.js';
import { keysCommand } from './keys.js';
import { queryCommand } from './query.js';
import { tenantCommand } from './tenant.js';
import { tokenCommand } from './token.js';
import { uploadCommand } from './upload.js';
import { CommandError, UsageError, type CliIo, type Command } from './common.js';

export const COMMANDS: readonly Command[] = [tokenCommand, keysCommand, queryCommand, uploadCommand, jobsCommand, tenantCommand];

export function mainUsage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'usage: percolate <command> [options]',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    "run 'percolate <command> --help' for a command's options",
  ].join('\n');
}

/** The first paragraph of a usage text (its `usage:` lines), and where the rest is. */
function synopsis(usage: string): string {
  const first = usage.split('\n\n')[0]!;
  return first === usage ? first : `${first}\n(--help for the options)`;
}

/** Runs one command line; resolves with the exit status (0, 1: the command failed, 2: a usage error). */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h' || name === 'help') {
    io.out(mainUsage());
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  try {
    if (!command) throw new UsageError(name === undefined ? 'a command is required' : `unknown command '${name}'`, mainUsage());
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`percolate: ${err.message}`);
      io.err(synopsis(err.usage));
      return 2;
    }
    if (err instanceof CommandError) {
      io.err(`percolate: ${err.message}`);
      return 1;
    }
    throw err;
  }
}

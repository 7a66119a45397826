// `percolate query`: REM statements against the database node (POST /api/v1/query), answers as tables (or the raw
// JSON with --json). One statement as the argument; without one, statements from stdin, one per line, or, when
// stdin is a terminal, an interactive prompt with a history kept in ~/.percolate_history.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { QUERY_CHARS_MAX } from '../../shared/query/lexer.js';
import { CommandError, readCommandLine, UsageError, type CliIo, type Command } from './common.js';
import { call, CONNECTION_OPTIONS, connectionUsage, remoteOf, type Remote } from './remote.js';
import { tableLines, WIDTH_DEFAULT, WIDTH_MAX, WIDTH_MIN } from './table.js';

const USAGE = `usage: percolate query [STATEMENT] [--json] [--params JSON] [--width N] [connection options]

Runs REM statements (LOOKUP, FUZZY, SEARCH, TRAVERSE, SELECT, EXPLAIN; see the README's Query language) on the
tenant, through POST /api/v1/query of the database node, and prints the rows as a table on stdout (the count and
time on stderr):
  npx percolate query --tenant demo "SELECT uri, content FROM resources LIMIT 5"
  npx percolate query --tenant demo --json "LOOKUP 'Marie Curie'" | jq .results
  npx percolate query --tenant demo < statements.rem

Without STATEMENT the statements come from stdin, one per line (empty lines and lines starting with -- or # are
skipped, a trailing ; is dropped); the first that fails stops the run (exit 1). When stdin is a terminal, a prompt
reads them instead (arrow keys recall earlier statements, kept in ~/.percolate_history; an error is printed and the
prompt continues; exit, quit, \\q or Ctrl-D leaves).

  --json         print each answer as the node sent it (one JSON document per line) instead of a table
  --params JSON  a JSON array of values for $1, $2, ... in the statement(s)
  --width N      cut each value to N characters in tables (default ${WIDTH_DEFAULT})
${connectionUsage('api')}

Exit status 0, 1 when a statement fails (printed as percolate: <code>: <message>) or the node cannot be reached,
2 for a usage error.`;

export const HISTORY_FILE = '.percolate_history';
/** Statements kept in the history file, newest last. */
export const HISTORY_MAX = 1000;
const QUIT = new Set(['exit', 'quit', '\\q']);

interface QueryOptions {
  remote: Remote;
  json: boolean;
  params: unknown[] | undefined;
  width: number;
}

/** A line of input as a statement: undefined for a blank line or a comment. */
function statementOf(line: string): string | undefined {
  const s = line.trim().replace(/;+$/, '').trim();
  if (s === '' || s.startsWith('--') || s.startsWith('#')) return undefined;
  return s;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Runs one statement and prints its answer; the node's error is thrown as a CommandError `<code>: <message>`. */
async function runStatement(o: QueryOptions, statement: string, io: CliIo): Promise<void> {
  if (statement.length > QUERY_CHARS_MAX) throw new CommandError(`the statement is ${statement.length} characters, more than ${QUERY_CHARS_MAX}`);
  const answer = await call(o.remote, 'POST', '/api/v1/query', { json: o.params ? { query: statement, params: o.params } : { query: statement } });
  if (o.json) {
    io.out(answer.text.trim());
    return;
  }
  const body = (answer.body ?? {}) as { rows?: unknown[]; results?: unknown[]; edges?: unknown[]; plan?: unknown; truncated?: boolean; bound?: unknown; took_ms?: number };
  const took = typeof body.took_ms === 'number' ? `, ${body.took_ms.toFixed(1)} ms` : '';
  const rows = body.rows ?? body.results;
  if (!rows) {
    // EXPLAIN: the plan only
    for (const line of JSON.stringify(body.plan ?? body, null, 2).split('\n')) io.out(line);
    io.err(`plan${took}`);
    return;
  }
  if (rows.length > 0) for (const line of tableLines(rows, o.width)) io.out(line);
  const notes = [plural(rows.length, body.rows ? 'row' : 'result')];
  if (body.edges && body.edges.length > 0) {
    io.out('');
    for (const line of tableLines(body.edges, o.width)) io.out(line);
    notes.push(plural(body.edges.length, 'edge'));
  }
  let note = notes.join(', ') + took;
  if (body.truncated) note += `; truncated${body.bound !== undefined ? ` by ${JSON.stringify(body.bound)}` : ''}`;
  io.err(note);
}

async function readHistory(file: string): Promise<string[]> {
  try {
    const lines = (await fs.readFile(file, 'utf8')).split('\n').filter((l) => l.trim() !== '');
    return lines.slice(-HISTORY_MAX).reverse(); // readline wants the newest first
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

async function writeHistory(file: string, newestFirst: readonly string[], io: CliIo): Promise<void> {
  const lines = newestFirst.slice(0, HISTORY_MAX).reverse();
  try {
    // statements may carry data: readable by the user only
    await fs.writeFile(file, lines.map((l) => l + '\n').join(''), { mode: 0o600 });
  } catch (err) {
    io.err(`note: could not save the history to ${file}: ${(err as Error).message}`);
  }
}

/** The prompt: a statement per line, errors printed and the prompt continues; the history is saved on the way out. */
async function interactive(o: QueryOptions, io: CliIo, stdin: NodeJS.ReadableStream): Promise<number> {
  const stderr = io.stderr ?? process.stderr;
  const file = path.join(os.homedir(), HISTORY_FILE);
  let history = await readHistory(file).catch((err: Error) => {
    io.err(`note: could not read the history ${file}: ${err.message}`);
    return [] as string[];
  });
  const rl = readline.createInterface({
    input: stdin,
    output: stderr,
    terminal: Boolean(stderr.isTTY),
    history,
    historySize: HISTORY_MAX,
    removeHistoryDuplicates: true,
    prompt: `${o.remote.tenant}> `,
  });
  rl.on('history', (h: string[]) => {
    history = h;
  });
  let closed = false;
  rl.on('SIGINT', () => rl.close());
  // lines typed (or pasted) while a statement runs wait their turn, in order
  let turn = Promise.resolve();
  let failure: unknown;
  let quit = false;
  // a line typed before Ctrl-D still runs; nothing after exit does
  const handle = async (line: string) => {
    if (quit || failure !== undefined) return;
    const statement = statementOf(line);
    if (statement !== undefined && QUIT.has(statement.toLowerCase())) {
      quit = true;
      rl.close();
      return;
    }
    if (statement !== undefined) {
      try {
        await runStatement(o, statement, io);
      } catch (err) {
        if (!(err instanceof CommandError)) {
          failure = err;
          rl.close();
          return;
        }
        io.err(`percolate: ${err.message}`);
      }
    }
    if (!closed) rl.prompt();
  };
  const ended = new Promise<void>((resolve) =>
    rl.on('close', () => {
      closed = true;
      resolve();
    }),
  );
  rl.on('line', (line: string) => {
    turn = turn.then(() => handle(line));
  });
  io.err(`connected to ${o.remote.baseUrl} as tenant ${o.remote.tenant}; one statement per line, exit or Ctrl-D to leave`);
  rl.prompt();
  await ended;
  await turn; // the statement running when the prompt closed
  await writeHistory(file, history, io);
  if (failure !== undefined) throw failure;
  return 0;
}

/** Statements from a pipe or a file, one per line; the first failure stops the run. */
async function piped(o: QueryOptions, io: CliIo, stdin: NodeJS.ReadableStream): Promise<number> {
  const rl = readline.createInterface({ input: stdin, crlfDelay: Infinity });
  let lineNo = 0;
  let ran = 0;
  for await (const line of rl) {
    lineNo++;
    const statement = statementOf(line);
    if (statement === undefined) continue;
    if (ran > 0 && !o.json) io.out('');
    ran++;
    try {
      await runStatement(o, statement, io);
    } catch (err) {
      rl.close();
      if (err instanceof CommandError) throw new CommandError(`line ${lineNo}: ${err.message}`);
      throw err;
    }
  }
  if (ran === 0) throw new UsageError('no statement: give one as an argument, or one per line on stdin', USAGE);
  return 0;
}

function paramsOf(text: string | undefined): unknown[] | undefined {
  if (text === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new UsageError(`--params must be a JSON array, got '${text}'`, USAGE);
  }
  if (!Array.isArray(v)) throw new UsageError(`--params must be a JSON array, got '${text}'`, USAGE);
  return v;
}

export const queryCommand: Command = {
  name: 'query',
  summary: 'run REM statements on the database node (argument, stdin or a prompt), rows as a table or --json',
  usage: USAGE,
  async run(argv: readonly string[], io: CliIo): Promise<number> {
    const { values, flags, positionals, help } = readCommandLine(
      argv,
      { strings: [...CONNECTION_OPTIONS.filter((n) => n !== 'gateway'), 'params', 'width'] as const, flags: ['json'] as const, positionalsMax: 1 },
      USAGE,
    );
    if (help) {
      io.out(USAGE);
      return 0;
    }
    const width = values.width === undefined ? WIDTH_DEFAULT : Number(values.width);
    if (!Number.isInteger(width) || width < WIDTH_MIN || width > WIDTH_MAX) throw new UsageError(`--width must be an integer from ${WIDTH_MIN} to ${WIDTH_MAX}, got '${values.width}'`, USAGE);
    const o: QueryOptions = { remote: remoteOf('api', values, io.env, USAGE), json: flags.has('json'), params: paramsOf(values.params), width };
    const [statement] = positionals;
    if (statement !== undefined) {
      if (statement.trim() === '') throw new UsageError('the statement is empty', USAGE);
      await runStatement(o, statement, io);
      return 0;
    }
    const stdin = io.stdin ?? process.stdin;
    return stdin.isTTY ? interactive(o, io, stdin) : piped(o, io, stdin);
  },
};

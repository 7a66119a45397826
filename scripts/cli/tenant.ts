// `percolate tenant`: the tenant's record counts and state on the database node (GET /api/v1/tenant), as
// `name  value` lines or the node's JSON.
import { readCommandLine, type CliIo, type Command } from './common.js';
import { call, CONNECTION_OPTIONS, connectionUsage, remoteOf } from './remote.js';
import { recordLines } from './table.js';

const USAGE = `usage: percolate tenant [--json] [connection options]

Prints the tenant's information on the node it asks (GET /api/v1/tenant): its counts of resources, entities and
moments, its state there (hot, warm or cold), pinned, size on disk, estimated memory, accesses, embedder and
snapshot, one \`name  value\` line each:
  npx percolate tenant --tenant demo
  npx percolate tenant --tenant demo --json | jq .counts

  --json         print the node's answer as it was sent
${connectionUsage('api')}

Exit status 0, 1 when the node answers an error (an unknown tenant: tenant_not_found) or cannot be reached, 2 for
a usage error.`;

/** Shown first, in this order; the rest follow as the node sends them. */
const FIRST = ['tenant', 'state', 'pinned', 'counts'];
/** Wide enough for an embedder id or a timestamp. */
const VALUE_WIDTH = 80;

export const tenantCommand: Command = {
  name: 'tenant',
  summary: "the tenant's counts and state on the database node (--json for the answer)",
  usage: USAGE,
  async run(argv: readonly string[], io: CliIo): Promise<number> {
    const { values, flags, help } = readCommandLine(argv, { strings: CONNECTION_OPTIONS.filter((n) => n !== 'gateway'), flags: ['json'] as const, positionalsMax: 0 }, USAGE);
    if (help) {
      io.out(USAGE);
      return 0;
    }
    const remote = remoteOf('api', values, io.env, USAGE);
    const answer = await call(remote, 'GET', '/api/v1/tenant');
    if (flags.has('json')) {
      io.out(answer.text.trim());
      return 0;
    }
    for (const line of recordLines((answer.body ?? {}) as Record<string, unknown>, VALUE_WIDTH, FIRST)) io.out(line);
    return 0;
  },
};

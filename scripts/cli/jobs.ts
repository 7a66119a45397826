// `percolate jobs ID`: an ingestion job's status on the upload gateway (GET /jobs/:id), once or followed until it
// ends. The gateway has no route that lists a tenant's jobs, so the id is required (`percolate upload` prints it).
// followJobs is also how `percolate upload` waits for the jobs of its files.
import { JOB_ID_PATTERN, type JobState } from '../../shared/jobs/types.js';
import { CommandError, readCommandLine, UsageError, type CliIo, type Command } from './common.js';
import { call, CONNECTION_OPTIONS, connectionUsage, durationOption, remoteOf, type Remote } from './remote.js';
import { recordLines } from './table.js';

export const WAIT_TIMEOUT_DEFAULT = '30m';
/** How often a followed job is asked for: a stage of a small file takes about this long. */
export const POLL_MS = 500;

export const WAIT_TIMEOUT_USAGE = `  --wait-timeout D  how long to follow a job before giving up (exit 1; the job goes on): a number with ms, s, m or h
                    (default ${WAIT_TIMEOUT_DEFAULT})`;

const USAGE = `usage: percolate jobs ID [--follow [--wait-timeout D]] [--json] [connection options]

Prints an ingestion job's status (GET /jobs/ID of the upload gateway): status (queued, processing, completed,
failed), stage, chunks, the resources and entities written, attempts, error, file. The gateway keeps no list of a
tenant's jobs, so the id is required: \`percolate upload\` prints it.
  npx percolate jobs 4f0c9a7e-1b2c-4d5e-8f90-123456789abc --tenant demo
  npx percolate jobs 4f0c9a7e-1b2c-4d5e-8f90-123456789abc --tenant demo --follow

  --follow          print each stage change until the job completes (exit 0) or fails (exit 1 with its error)
${WAIT_TIMEOUT_USAGE}
  --json            print the gateway's answer as it was sent (without --follow)
${connectionUsage('gateway')}

Exit status 0 when the status was printed (whatever it is; with --follow: when the job completed), 1 when the
gateway answers an error (an unknown id: not_found) or cannot be reached, 2 for a usage error.`;

const FIRST = ['job_id', 'status', 'progress', 'resources', 'entities', 'attempts', 'error', 'file'];
const VALUE_WIDTH = 100;

export interface FollowedJob {
  id: string;
  /** What the lines say it is: the file name, or the id. */
  label: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function getJob(remote: Remote, id: string): Promise<{ state: JobState; text: string }> {
  const answer = await call(remote, 'GET', `/jobs/${id}`);
  return { state: answer.body as JobState, text: answer.text };
}

/** The line of a state worth a line: the stage while it runs, the counts when it completed. */
function stateLine(s: JobState): string {
  if (s.status === 'completed') return `completed: ${s.resources} resources, ${s.entities} entities (job ${s.job_id})`;
  if (s.status === 'queued') return 'queued';
  const chunks = s.progress.chunks_total > 0 ? ` (${s.progress.chunks_written}/${s.progress.chunks_total} chunks)` : '';
  return `${s.progress.stage}${chunks}${s.attempts > 1 ? `, attempt ${s.attempts}` : ''}`;
}

/**
 * Polls every job until each has completed or failed, printing `<label>: <stage>` on stderr at each change; resolves
 * with the final states in the order given. A job still running after waitMs is a CommandError naming it.
 */
export async function followJobs(remote: Remote, jobs: readonly FollowedJob[], waitMs: number, io: CliIo): Promise<JobState[]> {
  const deadline = Date.now() + waitMs;
  const last = new Map<string, string>();
  const done = new Map<string, JobState>();
  for (;;) {
    for (const j of jobs) {
      if (done.has(j.id)) continue;
      const { state } = await getJob(remote, j.id);
      const line = state.status === 'failed' ? 'failed' : stateLine(state);
      if (last.get(j.id) !== line) {
        last.set(j.id, line);
        if (state.status !== 'failed') io.err(`${j.label}: ${line}`);
      }
      if (state.status === 'completed' || state.status === 'failed') done.set(j.id, state);
    }
    if (done.size === jobs.length) return jobs.map((j) => done.get(j.id)!);
    if (Date.now() + POLL_MS > deadline) {
      const open = jobs.filter((j) => !done.has(j.id)).map((j) => `${j.label} (job ${j.id}: ${last.get(j.id)})`);
      throw new CommandError(`still running after ${waitMs} ms: ${open.join(', ')}; follow with \`percolate jobs ID --follow\``);
    }
    await sleep(POLL_MS);
  }
}

/** The message of a failed job: where it failed and why. */
export function failureOf(s: JobState): string {
  return `job ${s.job_id} failed in stage ${s.progress.stage}${s.attempts > 1 ? ` after ${s.attempts} attempts` : ''}: ${s.error ?? 'no reason given'}`;
}

export const jobsCommand: Command = {
  name: 'jobs',
  summary: "an ingestion job's status on the upload gateway (jobs ID; --follow until it ends)",
  usage: USAGE,
  async run(argv: readonly string[], io: CliIo): Promise<number> {
    const { values, flags, positionals, help } = readCommandLine(
      argv,
      { strings: [...CONNECTION_OPTIONS.filter((n) => n !== 'url'), 'wait-timeout'] as const, flags: ['json', 'follow'] as const, positionalsMax: 1 },
      USAGE,
    );
    if (help) {
      io.out(USAGE);
      return 0;
    }
    const [id] = positionals;
    if (id === undefined) throw new UsageError('a job id is required (the gateway has no route that lists jobs; `percolate upload` prints the id)', USAGE);
    if (!JOB_ID_PATTERN.test(id)) throw new UsageError(`a job id is a lowercase UUID, got '${id}'`, USAGE);
    if (flags.has('json') && flags.has('follow')) throw new UsageError('--json and --follow do not go together', USAGE);
    if (values['wait-timeout'] !== undefined && !flags.has('follow')) throw new UsageError('--wait-timeout goes with --follow', USAGE);
    const waitMs = durationOption('wait-timeout', values['wait-timeout'] ?? WAIT_TIMEOUT_DEFAULT, USAGE);
    const remote = remoteOf('gateway', values, io.env, USAGE);
    if (flags.has('follow')) {
      const [state] = await followJobs(remote, [{ id, label: `job ${id}` }], waitMs, io);
      if (state!.status === 'failed') throw new CommandError(failureOf(state!));
      return 0;
    }
    const { state, text } = await getJob(remote, id);
    if (flags.has('json')) io.out(text.trim());
    else for (const line of recordLines(state as unknown as Record<string, unknown>, VALUE_WIDTH, FIRST)) io.out(line);
    return 0;
  },
};

// Durable operations: long tenant operations (snapshot, offload to cold, restore, pin, unpin, purge) run as a list of
// steps by an OperationRunner, their state recorded in an OperationStore every node can read (JetStream KV, or the
// node's own LevelDB without NATS: operation-store.ts), so an HTTP call can answer 202 with the id at once and a poll
// of the id on any node sees the steps move. An operation interrupted by a restart is resumed by the node that ran it.
//
// The step contract: a step may run more than once. A crash (or stop()) in the middle of a step leaves it `running`
// in the record, and the resumed operation runs that step again from its beginning, after the steps already
// `completed` (which never run again). So every step must be idempotent: safe to re-run after it ran partly or even
// wholly (write under deterministic keys, check before acting, overwrite rather than append). A step should also
// watch `ctx.signal` and give up quickly when the node stops; whatever it leaves behind is re-done on resume.
//
// Records are bounded (steps, strings, JSON fields, total bytes) on write and checked on read: a record is JSON that
// any node (or anyone with access to the bucket) can write, so a record that does not fit the format is "not found",
// never trusted and never a crash.
import { randomBytes } from 'node:crypto';
import { RemError, type RemErrorCode } from '../rem/errors.js';
import { inspectJson, jsonTextDepth } from '../rem/json-guard.js';
import { consoleObserver, type EngineObserver } from '../rem/observer.js';
import { TENANT_ID_PATTERN, assertTenantId } from '../rem/tenant-id.js';

// ---------------------------------------------------------------------------------------------------------------
// The record

/** The kinds this code base knows today; a runner takes any string kind (OperationRunner<K>), so more can be added. */
export type OperationKind = 'snapshot' | 'offload' | 'restore' | 'pin' | 'unpin' | 'purge';
export type OperationStatus = 'pending' | 'running' | 'completed' | 'failed';
export type StepStatus = OperationStatus;
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * The codes the runner writes: a step's RemError code, `internal` for any other error (its message stays in the log,
 * as at the HTTP edge), `too_many_attempts` (interrupted too often), `unknown_kind` (no steps registered for the
 * record's kind, or recorded steps that differ from them). Records read back carry any code of the format (string).
 */
export type OperationErrorCode = RemErrorCode | 'internal' | 'too_many_attempts' | 'unknown_kind';

export interface OperationError {
  code: string;
  message: string;
}

export interface OperationStep {
  name: string;
  status: StepStatus;
  started_at?: string;
  ended_at?: string;
  error?: OperationError;
  /** Small JSON a step reports while it runs (ctx.setDetail), bounded by OperationLimits.detailBytesMax. */
  detail?: JsonValue;
}

export interface Operation<K extends string = OperationKind> {
  /** A ULID (26 characters of Crockford base32): time-ordered, so creation order is id order. */
  id: string;
  kind: K;
  tenant: string;
  /** The node that runs it (and resumes it after a restart). */
  node: string;
  status: OperationStatus;
  /** What start() was given, kept for the steps of a resumed run (bounded by paramsBytesMax). */
  params: JsonValue;
  steps: OperationStep[];
  error?: OperationError;
  result?: JsonValue;
  created_at: string;
  updated_at: string;
  /** Executions begun: 1 after the first start, one more per resume. */
  attempts: number;
}

export function isFinished(status: OperationStatus): boolean {
  return status === 'completed' || status === 'failed';
}

// ---------------------------------------------------------------------------------------------------------------
// Ids

/** A ULID: 48 bits of milliseconds then 80 random bits, 26 Crockford base32 characters (the first one 0-7). */
export const OPERATION_ID_PATTERN = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;
/** Node ids as the configuration accepts them (PERCOLATE_NODE_ID): they also become KV key tokens. */
export const NODE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
let lastId = 0n;

/**
 * A new ULID, strictly greater than every id this process made before (within one millisecond the previous id plus
 * one), so the ids of a tenant's operations sort in the order start() was called: the runner's queue relies on it.
 */
export function newOperationId(now = Date.now()): string {
  let v = (BigInt(now) << 80n) | BigInt(`0x${randomBytes(10).toString('hex')}`);
  if (v <= lastId) v = lastId + 1n;
  lastId = v;
  let s = '';
  for (let i = 0; i < 26; i++) {
    s = CROCKFORD[Number(v & 31n)]! + s;
    v >>= 5n;
  }
  return s;
}

export function isOperationId(id: unknown): id is string {
  return typeof id === 'string' && OPERATION_ID_PATTERN.test(id);
}

// ---------------------------------------------------------------------------------------------------------------
// Bounds

export interface OperationLimits {
  /** Steps of one kind at most. */
  stepsMax: number;
  /** Serialised bytes of one step's detail; a larger detail is recorded as `{truncated: true, bytes}`. */
  detailBytesMax: number;
  /** Serialised bytes of the result; a larger one is recorded as `{truncated: true, bytes}`. */
  resultBytesMax: number;
  /** Serialised bytes of start()'s params; larger params are refused (limit_exceeded). */
  paramsBytesMax: number;
  /** Characters of an error message (longer ones are cut). */
  messageCharsMax: number;
  /** Bytes of a whole record: refused on write, "not found" on read (and the KV bucket's value limit). */
  recordBytesMax: number;
}

/**
 * Worst case with these: 32 steps x (1 KiB detail + 512 characters of message, at most 1.5 KiB in UTF-8 + names and
 * times) + 4 KiB params + 4 KiB result is about 100 KiB, under the 128 KiB record bound.
 */
export const OPERATION_LIMITS_DEFAULT: Readonly<OperationLimits> = {
  stepsMax: 32,
  detailBytesMax: 1024,
  resultBytesMax: 4096,
  paramsBytesMax: 4096,
  messageCharsMax: 512,
  recordBytesMax: 128 * 1024,
};

export function operationLimits(o: Partial<OperationLimits> = {}): OperationLimits {
  return { ...OPERATION_LIMITS_DEFAULT, ...o };
}

/** Nesting of a JSON field (params, detail, result): the record around it adds 3 levels, under RECORD_DEPTH_MAX. */
const FIELD_DEPTH_MAX = 16;
const RECORD_DEPTH_MAX = FIELD_DEPTH_MAX + 4;

type Checked = { value: JsonValue } | { problem: string; bytes?: number };

/** A JSON copy of `value` within the bounds, or what is wrong with it (`bytes` when it is only too large). */
function checkJson(value: unknown, bytesMax: number): Checked {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    return { problem: 'is not serialisable as JSON' };
  }
  if (text === undefined) return { value: null };
  const bytes = Buffer.byteLength(text);
  if (bytes > bytesMax) return { problem: `is over ${bytesMax} bytes`, bytes };
  if (jsonTextDepth(text, FIELD_DEPTH_MAX) > FIELD_DEPTH_MAX) return { problem: `nests deeper than ${FIELD_DEPTH_MAX} levels` };
  const copy = JSON.parse(text) as JsonValue;
  if (inspectJson(copy, FIELD_DEPTH_MAX).protoPath !== undefined) return { problem: 'holds a __proto__ key' };
  return { value: copy };
}

/**
 * A value as it will be stored: a JSON copy (undefined and functions dropped as JSON.stringify drops them), or a
 * small marker when it is too large (`{truncated: true, bytes}`), too deep, not serialisable or holds a `__proto__`
 * key (which would make the whole record unreadable on the way back: `{invalid}`). Never throws: a buggy step cannot
 * break its operation's record this way.
 */
export function boundJson(value: unknown, bytesMax: number): JsonValue {
  const c = checkJson(value, bytesMax);
  if ('value' in c) return c.value;
  return c.bytes !== undefined ? { truncated: true, bytes: c.bytes } : { invalid: c.problem };
}

function boundMessage(message: string, charsMax: number): string {
  return message.length > charsMax ? `${message.slice(0, Math.max(0, charsMax - 1))}…` : message;
}

// ---------------------------------------------------------------------------------------------------------------
// Encoding and checking records (used by both stores)

/** The record as stored; refuses (limit_exceeded) one over recordBytesMax, which bounded fields cannot reach. */
export function encodeOperation(op: Operation<string>, limits: OperationLimits): string {
  const text = JSON.stringify(op);
  const bytes = Buffer.byteLength(text);
  if (bytes > limits.recordBytesMax) {
    throw new RemError('limit_exceeded', `operation record of ${bytes} bytes is over the bound of ${limits.recordBytesMax}`);
  }
  return text;
}

const STATUSES: ReadonlySet<string> = new Set(['pending', 'running', 'completed', 'failed']);
const KIND_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;
const STEP_NAME_PATTERN = /^[a-z][a-z0-9_.-]{0,63}$/;
const CODE_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;
const ATTEMPTS_READ_MAX = 1_000_000;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const isTime = (v: unknown): v is string => typeof v === 'string' && v.length <= 40 && !Number.isNaN(Date.parse(v));

function readError(v: unknown, limits: OperationLimits): OperationError | undefined | false {
  if (v === undefined) return undefined;
  if (!isObj(v) || typeof v.code !== 'string' || !CODE_PATTERN.test(v.code)) return false;
  if (typeof v.message !== 'string' || v.message.length > limits.messageCharsMax) return false;
  return { code: v.code, message: v.message };
}

function readStep(v: unknown, limits: OperationLimits): OperationStep | undefined {
  if (!isObj(v) || typeof v.name !== 'string' || !STEP_NAME_PATTERN.test(v.name)) return undefined;
  if (typeof v.status !== 'string' || !STATUSES.has(v.status)) return undefined;
  const step: OperationStep = { name: v.name, status: v.status as StepStatus };
  if (v.started_at !== undefined) {
    if (!isTime(v.started_at)) return undefined;
    step.started_at = v.started_at;
  }
  if (v.ended_at !== undefined) {
    if (!isTime(v.ended_at)) return undefined;
    step.ended_at = v.ended_at;
  }
  const error = readError(v.error, limits);
  if (error === false) return undefined;
  if (error) step.error = error;
  if (v.detail !== undefined) step.detail = v.detail as JsonValue;
  return step;
}

/**
 * A stored record checked against the format and the bounds, as a fresh object holding only the known fields, or
 * undefined when it does not fit (garbage, too large, too deep, wrong field types, a `__proto__` key anywhere).
 */
export function decodeOperation(text: string, limits: OperationLimits): Operation<string> | undefined {
  if (text.length > limits.recordBytesMax || Buffer.byteLength(text) > limits.recordBytesMax) return undefined;
  if (jsonTextDepth(text, RECORD_DEPTH_MAX) > RECORD_DEPTH_MAX) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObj(v) || inspectJson(v, RECORD_DEPTH_MAX).protoPath !== undefined) return undefined;
  if (!isOperationId(v.id) || typeof v.kind !== 'string' || !KIND_PATTERN.test(v.kind)) return undefined;
  if (typeof v.tenant !== 'string' || !TENANT_ID_PATTERN.test(v.tenant)) return undefined;
  if (typeof v.node !== 'string' || !NODE_ID_PATTERN.test(v.node)) return undefined;
  if (typeof v.status !== 'string' || !STATUSES.has(v.status)) return undefined;
  if (!isTime(v.created_at) || !isTime(v.updated_at)) return undefined;
  if (!Number.isSafeInteger(v.attempts) || (v.attempts as number) < 0 || (v.attempts as number) > ATTEMPTS_READ_MAX) return undefined;
  if (!Array.isArray(v.steps) || v.steps.length > limits.stepsMax) return undefined;
  const steps: OperationStep[] = [];
  for (const s of v.steps) {
    const step = readStep(s, limits);
    if (!step) return undefined;
    steps.push(step);
  }
  const error = readError(v.error, limits);
  if (error === false) return undefined;
  const op: Operation<string> = {
    id: v.id,
    kind: v.kind,
    tenant: v.tenant,
    node: v.node,
    status: v.status as OperationStatus,
    params: v.params === undefined ? null : (v.params as JsonValue),
    steps,
    created_at: v.created_at,
    updated_at: v.updated_at,
    attempts: v.attempts as number,
  };
  if (error) op.error = error;
  if (v.result !== undefined) op.result = v.result as JsonValue;
  return op;
}

/**
 * What a store writes for an update: the proposed record with the fields that never change taken from the current
 * one (id, kind, tenant, node, created_at), a finished status kept (completed and failed are final), updated_at now.
 */
export function settleUpdate(current: Operation<string>, proposed: Operation<string>, now: string): Operation<string> {
  return {
    ...proposed,
    id: current.id,
    kind: current.kind,
    tenant: current.tenant,
    node: current.node,
    created_at: current.created_at,
    status: isFinished(current.status) ? current.status : proposed.status,
    updated_at: now,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The store (implementations in operation-store.ts)

export interface OperationStore {
  /** Writes a new record; rejects when its id exists. */
  create(op: Operation<string>): Promise<void>;
  /** The record, or undefined for an id not of the id format, an unknown id or a record that does not fit the format. */
  get(id: string): Promise<Operation<string> | undefined>;
  /**
   * Compare-and-set: applies `change` (given a copy) to the current record and writes the result only if nobody wrote
   * in between, else re-reads and applies it again; `change` returns null to leave the record as it is. Returns the
   * record as written (or as found), undefined when there is none (see settleUpdate for what `change` cannot alter).
   */
  update(id: string, change: (op: Operation<string>) => Operation<string> | null): Promise<Operation<string> | undefined>;
  /** The node's operations not finished (pending or running), oldest first: what resume() continues. */
  listUnfinished(node: string): Promise<Operation<string>[]>;
  /** A tenant's operations, newest first, `limit` at most. */
  listForTenant(tenant: string, limit: number): Promise<Operation<string>[]>;
  /** Removes finished operations older than the retention; returns how many (0 where storage expires them itself). */
  prune(now?: number): Promise<number>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------------
// The runner

export interface StepContext<K extends string = OperationKind> {
  /** The record as it was when the step started (a copy). */
  readonly operation: Readonly<Operation<K>>;
  readonly tenant: string;
  readonly params: JsonValue;
  /** Aborted when the runner stops: give up soon; the step is re-run on resume. */
  readonly signal: AbortSignal;
  /** The operation's execution number (1 on the first run; more means the steps may have run before). */
  readonly attempt: number;
  /**
   * Records progress on the step (bounded by detailBytesMax). Writes are coalesced: while one is in flight, further
   * calls only replace the value that goes next, so a step calling it in a loop cannot flood the store. Never rejects.
   */
  setDetail(detail: unknown): Promise<void>;
  /** Sets the operation's result (bounded by resultBytesMax), written when this step completes (dropped if it fails). */
  setResult(result: unknown): void;
}

export interface OperationStepDef<K extends string = OperationKind> {
  /** Unique within its kind; lowercase letters, digits, `_ . -` (it is recorded). */
  name: string;
  /** Must be idempotent: see the step contract at the top of this file. */
  run(ctx: StepContext<K>): Promise<void>;
}

export interface OperationRunnerOptions {
  /** This node's id: it is recorded on the operations it starts, and resume() continues those. */
  node: string;
  store: OperationStore;
  /** Operations running at once (one per tenant at most). Default 2. */
  concurrency?: number;
  /** Operations waiting to run at most; start() beyond it is refused with RemError('overloaded'). Default 64. */
  pendingMax?: number;
  /** Executions of one operation at most (the first run and each resume); beyond: failed, too_many_attempts. Default 3. */
  attemptsMax?: number;
  /** How long stop() waits for running steps before it returns anyway. Default 10 s. */
  stopDeadlineMs?: number;
  limits?: Partial<OperationLimits>;
  /**
   * Called at every status an operation reaches, with the milliseconds since it was created (0 for pending), for
   * metrics. Exceptions are ignored.
   */
  onTransition?: (kind: string, status: OperationStatus, durationMs: number) => void;
  /** Where failures that are not a step's error go (a store write that failed, a record that vanished). */
  observer?: Pick<EngineObserver, 'warn' | 'error'>;
}

export const OPERATION_RUNNER_DEFAULTS = { concurrency: 2, pendingMax: 64, attemptsMax: 3, stopDeadlineMs: 10_000 } as const;

interface Queued {
  id: string;
  tenant: string;
  /** False while start() is still creating the record: the tenant's later operations wait behind it. */
  ready: boolean;
}

/** Ends one execution without touching the record: the runner stopped, or the record vanished or became unreadable. */
class Abandoned extends Error {}

const iso = () => new Date().toISOString();

function withStep(op: Operation<string>, i: number, step: OperationStep): Operation<string> {
  const steps = op.steps.slice();
  steps[i] = step;
  return { ...op, steps };
}

/**
 * Runs operations in the background, one at a time per tenant (in creation order: a purge never races a snapshot of
 * the same tenant) and at most `concurrency` at once, persisting each step's status and times before and after it.
 * Call resume() once at node start, before start() is used, so resumed operations keep their place in their tenant's
 * order. The ordering holds within this runner: operations of one tenant started on two nodes are not serialised.
 */
export class OperationRunner<K extends string = OperationKind> {
  readonly node: string;
  private readonly store: OperationStore;
  private readonly limits: OperationLimits;
  private readonly concurrency: number;
  private readonly pendingMax: number;
  private readonly attemptsMax: number;
  private readonly stopDeadlineMs: number;
  private readonly onTransition: OperationRunnerOptions['onTransition'];
  private readonly observer: Pick<EngineObserver, 'warn' | 'error'>;
  private readonly kinds = new Map<string, readonly OperationStepDef<K>[]>();
  /** Waiting operations in id (= creation) order. */
  private readonly queue: Queued[] = [];
  /** Ids queued or running, so a second resume() does not run one twice. */
  private readonly known = new Set<string>();
  private readonly busyTenants = new Set<string>();
  private readonly tasks = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private running = 0;
  /** Set when stop() returns: from then on nothing is written (a late step's outcome is re-done on resume). */
  private stopped = false;

  constructor(opts: OperationRunnerOptions) {
    if (!NODE_ID_PATTERN.test(opts.node)) throw new RemError('invalid_request', `node id must match ${NODE_ID_PATTERN}`);
    this.node = opts.node;
    this.store = opts.store;
    this.limits = operationLimits(opts.limits);
    this.concurrency = Math.max(1, Math.floor(opts.concurrency ?? OPERATION_RUNNER_DEFAULTS.concurrency));
    this.pendingMax = Math.max(0, Math.floor(opts.pendingMax ?? OPERATION_RUNNER_DEFAULTS.pendingMax));
    this.attemptsMax = Math.max(1, Math.floor(opts.attemptsMax ?? OPERATION_RUNNER_DEFAULTS.attemptsMax));
    this.stopDeadlineMs = Math.max(0, opts.stopDeadlineMs ?? OPERATION_RUNNER_DEFAULTS.stopDeadlineMs);
    this.onTransition = opts.onTransition;
    this.observer = opts.observer ?? consoleObserver;
  }

  /** The steps of a kind, in order. Each must be idempotent (the contract at the top of this file). */
  register(kind: K, steps: readonly OperationStepDef<K>[]): void {
    if (!KIND_PATTERN.test(kind)) throw new RemError('invalid_request', `operation kind must match ${KIND_PATTERN}`);
    if (this.kinds.has(kind)) throw new RemError('conflict', `operation kind '${kind}' is registered already`);
    if (steps.length === 0 || steps.length > this.limits.stepsMax) {
      throw new RemError('invalid_request', `an operation kind has 1 to ${this.limits.stepsMax} steps, '${kind}' has ${steps.length}`);
    }
    const names = new Set<string>();
    for (const s of steps) {
      if (!STEP_NAME_PATTERN.test(s.name) || names.has(s.name)) throw new RemError('invalid_request', `step name '${s.name}' of '${kind}' is invalid or repeated`);
      names.add(s.name);
    }
    this.kinds.set(kind, [...steps]);
  }

  /** Operations waiting and running in this runner (gauges for the caller's metrics). */
  stats(): { pending: number; running: number } {
    return { pending: this.queue.length, running: this.running };
  }

  /**
   * Creates the record (pending) and runs the operation in the background; resolves with the record once it is
   * stored. Refuses an unknown kind or bad tenant id (invalid_request, invalid_tenant), params over paramsBytesMax
   * (limit_exceeded), and with RemError('overloaded') when pendingMax operations wait already or the runner stops.
   */
  async start(kind: K, tenant: string, params: unknown = {}): Promise<Operation<K>> {
    if (this.abort.signal.aborted) throw new RemError('overloaded', 'this node is stopping: operation not started, retry later');
    const steps = this.kinds.get(kind);
    if (!steps) throw new RemError('invalid_request', `unknown operation kind '${kind}'`);
    assertTenantId(tenant);
    const checked = checkJson(params, this.limits.paramsBytesMax);
    if (!('value' in checked)) {
      throw new RemError(checked.bytes !== undefined ? 'limit_exceeded' : 'invalid_request', `operation params ${checked.problem}`);
    }
    if (this.queue.length >= this.pendingMax) {
      throw new RemError('overloaded', `${this.queue.length} operations are waiting on this node (at most ${this.pendingMax}); retry later`);
    }
    const now = iso();
    const op: Operation<K> = {
      id: newOperationId(),
      kind,
      tenant,
      node: this.node,
      status: 'pending',
      params: checked.value,
      steps: steps.map((s) => ({ name: s.name, status: 'pending' })),
      created_at: now,
      updated_at: now,
      attempts: 0,
    };
    // queued before the record is written (not ready), so the tenant's next operation cannot overtake this one
    const entry: Queued = { id: op.id, tenant, ready: false };
    this.enqueue(entry);
    try {
      await this.store.create(op);
    } catch (err) {
      // nothing was stored: the tenant's next operations, held behind this one, may go
      this.dequeue(entry);
      this.pump();
      throw err;
    }
    entry.ready = true;
    this.report(op, 'pending');
    this.pump();
    return structuredClone(op);
  }

  /**
   * Queues every unfinished operation of this node (interrupted by a restart, or created and never run); each
   * continues from its first step not completed. Resumed operations are not refused by pendingMax (they exist
   * already), so a long backlog makes start() refuse until it drains. Returns how many were queued.
   */
  async resume(): Promise<number> {
    if (this.abort.signal.aborted) return 0;
    const ops = await this.store.listUnfinished(this.node);
    let n = 0;
    for (const op of ops) {
      if (this.known.has(op.id) || op.node !== this.node) continue;
      this.enqueue({ id: op.id, tenant: op.tenant, ready: true });
      n++;
    }
    this.pump();
    return n;
  }

  /**
   * Stops taking operations, aborts the steps' signal and waits for the running steps up to stopDeadlineMs. What did
   * not finish stays unfinished in the store for resume(); after stop() returns the runner writes nothing more.
   */
  async stop(): Promise<void> {
    this.abort.abort();
    for (const q of this.queue.splice(0)) this.known.delete(q.id);
    let timer: NodeJS.Timeout | undefined;
    const inTime = await Promise.race([
      Promise.allSettled([...this.tasks]).then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), this.stopDeadlineMs))),
    ]);
    clearTimeout(timer);
    this.stopped = true;
    if (!inTime) {
      this.observer.warn({ node: this.node, running: this.running, deadline_ms: this.stopDeadlineMs }, 'operation runner stopped with steps still running: they run again on resume');
    }
  }

  private enqueue(entry: Queued): void {
    let i = this.queue.length;
    while (i > 0 && this.queue[i - 1]!.id > entry.id) i--;
    this.queue.splice(i, 0, entry);
    this.known.add(entry.id);
  }

  private dequeue(entry: Queued): void {
    const i = this.queue.indexOf(entry);
    if (i >= 0) this.queue.splice(i, 1);
    this.known.delete(entry.id);
  }

  /** Starts the oldest waiting operation of every idle tenant, while fewer than `concurrency` run. */
  private pump(): void {
    if (this.abort.signal.aborted) return;
    const blocked = new Set<string>();
    for (let i = 0; i < this.queue.length && this.running < this.concurrency; ) {
      const q = this.queue[i]!;
      if (!q.ready || blocked.has(q.tenant) || this.busyTenants.has(q.tenant)) {
        blocked.add(q.tenant);
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      this.busyTenants.add(q.tenant);
      this.running++;
      const task: Promise<void> = this.execute(q.id)
        .catch((err) => {
          if (err instanceof Abandoned) {
            if (err.message) this.observer.warn({ operation: q.id, tenant: q.tenant }, err.message);
          } else {
            this.observer.error({ operation: q.id, tenant: q.tenant, err }, 'operation left unfinished: its record could not be written (resumed at the next start)');
          }
        })
        .finally(() => {
          this.running--;
          this.busyTenants.delete(q.tenant);
          this.known.delete(q.id);
          this.tasks.delete(task);
          this.pump();
        });
      this.tasks.add(task);
    }
  }

  private async write(id: string, change: (op: Operation<string>) => Operation<string>): Promise<Operation<string>> {
    if (this.stopped) throw new Abandoned('');
    const next = await this.store.update(id, change);
    if (!next) throw new Abandoned('operation record vanished or became unreadable while it ran: abandoned');
    return next;
  }

  private async fail(op: Operation<string>, error: OperationError): Promise<void> {
    const done = await this.write(op.id, (o) => ({ ...o, status: 'failed', error }));
    this.report(done, 'failed');
  }

  private toError(err: unknown, op: Operation<string>, step: string): OperationError {
    if (err instanceof RemError) return { code: err.code, message: boundMessage(err.message, this.limits.messageCharsMax) };
    // as at the HTTP edge: the message of an unexpected error may say things about the node; it goes to the log
    this.observer.error({ operation: op.id, kind: op.kind, tenant: op.tenant, step, err }, 'operation step failed');
    return { code: 'internal', message: 'internal error' };
  }

  private report(op: Operation<string>, status: OperationStatus): void {
    if (!this.onTransition) return;
    try {
      this.onTransition(op.kind, status, status === 'pending' ? 0 : Math.max(0, Date.now() - Date.parse(op.created_at)));
    } catch {
      // a metrics callback must not break an operation
    }
  }

  private async execute(id: string): Promise<void> {
    let op = await this.store.get(id);
    // unreadable, another node's, or finished meanwhile: nothing to run
    if (!op || op.node !== this.node || isFinished(op.status)) return;
    const steps = this.kinds.get(op.kind);
    if (!steps || steps.length !== op.steps.length || steps.some((s, i) => s.name !== op!.steps[i]!.name)) {
      return this.fail(op, { code: 'unknown_kind', message: `no steps like the recorded ones are registered for kind '${op.kind}' on this node` });
    }
    if (op.attempts >= this.attemptsMax) {
      return this.fail(op, { code: 'too_many_attempts', message: `interrupted ${op.attempts} times (at most ${this.attemptsMax} attempts)` });
    }
    op = await this.write(id, (o) => ({ ...o, status: 'running', attempts: o.attempts + 1 }));
    this.report(op, 'running');
    const signal = this.abort.signal;
    for (let i = op.steps.findIndex((s) => s.status !== 'completed'); i >= 0 && i < steps.length; i++) {
      if (signal.aborted) return;
      const def = steps[i]!;
      const startedAt = iso();
      // the step's previous attempt (if any) is forgotten: ended_at, error and detail describe this run only
      op = await this.write(id, (o) => withStep(o, i, { name: def.name, status: 'running', started_at: startedAt }));
      const detail = new DetailWriter(this.limits.detailBytesMax, async (d) => {
        await this.write(id, (o) => withStep(o, i, { ...o.steps[i]!, detail: d }));
      });
      let result: JsonValue | undefined;
      const ctx: StepContext<K> = {
        operation: structuredClone(op) as Operation<K>,
        tenant: op.tenant,
        params: structuredClone(op.params),
        signal,
        attempt: op.attempts,
        setDetail: (d) => detail.set(d),
        setResult: (r) => void (result = boundJson(r, this.limits.resultBytesMax)),
      };
      let failure: OperationError | undefined;
      try {
        await def.run(ctx);
      } catch (err) {
        // interrupted by stop(): whatever the step threw, it runs again on resume
        if (signal.aborted) return;
        failure = this.toError(err, op, def.name);
      }
      await detail.settled();
      const endedAt = iso();
      const last = i === steps.length - 1;
      op = await this.write(id, (o) => {
        const step: OperationStep = { ...o.steps[i]!, status: failure ? 'failed' : 'completed', ended_at: endedAt };
        if (detail.value !== undefined) step.detail = detail.value;
        if (failure) step.error = failure;
        const next = withStep(o, i, step);
        // a failed step's result is dropped: the result describes what completed
        if (result !== undefined && !failure) next.result = result;
        if (failure) return { ...next, status: 'failed', error: failure };
        return last ? { ...next, status: 'completed' } : next;
      });
      if (failure) return this.report(op, 'failed');
    }
    // every step completed already (a record resumed right after its last step): only the status was missing
    if (op.status !== 'completed') op = await this.write(id, (o) => ({ ...o, status: 'completed' }));
    this.report(op, 'completed');
  }
}

/** A step's detail: the latest value, written one write at a time (later calls replace what goes next). */
class DetailWriter {
  value: JsonValue | undefined;
  private dirty = false;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly bytesMax: number,
    private readonly persist: (d: JsonValue) => Promise<void>,
  ) {}

  set(d: unknown): Promise<void> {
    this.value = boundJson(d, this.bytesMax);
    this.dirty = true;
    return (this.flushing ??= this.flush());
  }

  settled(): Promise<void> {
    return this.flushing ?? Promise.resolve();
  }

  private async flush(): Promise<void> {
    try {
      while (this.dirty) {
        this.dirty = false;
        await this.persist(this.value!);
      }
    } catch {
      // the step's end write carries the latest detail; a failed progress write is not the step's failure
    } finally {
      this.flushing = undefined;
    }
  }
}

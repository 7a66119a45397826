// One tenant's ops from the sync stream, for a restore: an ordered consumer filtered to the tenant's subject, from
// the sequence after the snapshot to the last op the stream held when the replay began. Ops arriving after that
// reach the tenant through the node's durable consumer (the tenant is loading, so the applier waits for it).
//
// Also: whether the stream holds any op of a tenant (a tenant with no snapshot may exist there only), and this node's
// acknowledged floor (every op at or below it is in the stores it applies to: the sequence a snapshot covers).
import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { SYNC_STREAM, syncSubject } from '../bus/names.js';
import { RemError } from '../rem/errors.js';
import type { Op } from '../rem/ops.js';
import { OpRejected, validateOp, type OpRejectReason } from '../rem/validate-op.js';
import { storeOpRules } from '../store/op-rules.js';
import type { TenantStore } from '../store/tenant-store.js';
import { decodeOpMessage } from './op-message.js';

export interface StreamAccess {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** This node's durable consumer of the sync stream. */
  durable: string;
}

export interface ReplayOptions {
  /** Ops applied in one batch at most. */
  batchMax: number;
  jsonDepthMax: number;
  /** The replay fails (and the restore with it) when it has not reached the last op by then. */
  timeoutMs: number;
  /**
   * Called for every op the replay refuses, with the reason the applier would count it under: the applier drops the
   * replayed ops unread when its consumer delivers them, so this is where they are counted.
   */
  onRefused?: (reason: OpRejectReason) => void;
}

export interface ReplayResult {
  applied: number;
  /** Ops that break the write rules (never applied anywhere). */
  refused: number;
  /** The last stream sequence replayed (0: none). */
  lastSeq: number;
  /** The stream's first sequence is above the one asked for: ops after the snapshot may have aged out of it. */
  gap: boolean;
}

/** Sequence of the tenant's last op in the stream; 0 when the stream holds none. */
export async function lastSeqOf(jsm: JetStreamManager, tenant: string): Promise<number> {
  try {
    const m = await jsm.streams.getMessage(SYNC_STREAM, { last_by_subj: syncSubject(tenant) });
    return m?.seq ?? 0;
  } catch (err) {
    if (/no message found|not found/i.test(String((err as Error).message))) return 0;
    throw err;
  }
}

/** Every op at or below this sequence was acknowledged by this node's durable consumer. */
export async function ackFloor(access: StreamAccess): Promise<number> {
  const info = await access.jsm.consumers.info(SYNC_STREAM, access.durable);
  return info.ack_floor.stream_seq;
}

export async function replayTenant(access: StreamAccess, store: TenantStore, afterSeq: number, o: ReplayOptions): Promise<ReplayResult> {
  const tenant = store.tenant;
  const lastSeq = await lastSeqOf(access.jsm, tenant);
  const result: ReplayResult = { applied: 0, refused: 0, lastSeq: 0, gap: false };
  if (lastSeq <= afterSeq) return result;
  const info = await access.jsm.streams.info(SYNC_STREAM);
  result.gap = info.state.first_seq > afterSeq + 1 && afterSeq > 0;
  const consumer = await access.js.consumers.get(SYNC_STREAM, {
    // one subject as a string: nats-server before 2.10 (Debian's 2.9) has no multi-subject filters
    filter_subjects: syncSubject(tenant),
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: afterSeq + 1,
  });
  const deadline = Date.now() + o.timeoutMs;
  const rules = storeOpRules(store);
  let seen = afterSeq;
  try {
    while (seen < lastSeq) {
      if (Date.now() > deadline) throw new RemError('tenant_unavailable', `the sync stream replay of '${tenant}' did not reach sequence ${lastSeq} in ${o.timeoutMs} ms (at ${seen})`);
      const batch: Op[] = [];
      const msgs = await consumer.fetch({ max_messages: o.batchMax, expires: Math.min(5_000, Math.max(1_000, deadline - Date.now())) });
      let got = 0;
      let pending = 1;
      for await (const m of msgs) {
        got++;
        seen = Math.max(seen, m.seq);
        pending = m.info.pending;
        const decoded = decodeOpMessage(m.string(), o.jsonDepthMax);
        if ('refused' in decoded || decoded.raw.tenant !== tenant) {
          result.refused++;
          o.onRefused?.('malformed');
        } else {
          try {
            batch.push(validateOp(decoded.raw, rules));
          } catch (err) {
            if (!(err instanceof OpRejected)) throw err;
            result.refused++;
            o.onRefused?.(err.reason);
          }
        }
        if (m.seq >= lastSeq || pending === 0) break;
      }
      // the store drops ops a purge made obsolete
      if (batch.length > 0) result.applied += (await store.applyReplicated(batch)).applied;
      // messages removed from the stream meanwhile (age, purge) end the replay where the stream ends
      if (got === 0 || pending === 0) break;
    }
  } finally {
    await consumer.delete().catch(() => undefined);
  }
  result.lastSeq = seen;
  return result;
}

import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { Kind } from './pipeline.settings.js';

/** One clock for writes and the poller, in ms. */
export const now = (): number => performance.now();

export interface Written {
  kind: Kind;
  step: number;
  version: number;
  respondedAt: number;
}

export interface Seen {
  kind: Kind;
  step: number;
  respondedAt: number;
  freshnessMs: number;
  /**
   * Write response → start of the projector transaction that applied it on the primary
   * (applied_versions.applied_at, same machine's clock); known only when the replica shows exactly
   * this version. The rest of the freshness is that transaction, its commit, WAL replay and polling.
   */
  toPrimaryMs: number | null;
}

/**
 * Follows consistency tokens to the replica. One connection; every `pollMs` it asks applied_versions
 * for the aggregates with outstanding versions (`= ANY($1)` per type) and resolves every version at
 * or below the one the replica shows. The time noted is when the poll was sent: the replica's
 * snapshot is taken just after, so visibility is known to within one poll interval + query time.
 */
export class ReplicaFreshnessPoller {
  private readonly outstanding = new Map<string, { type: string; id: string; writes: Written[] }>();
  readonly seen: Seen[] = [];
  readonly pollDurations: number[] = [];
  private running = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly client: pg.Client,
    private readonly pollMs: number,
  ) {}

  get pending(): number {
    let n = 0;
    for (const entry of this.outstanding.values()) n += entry.writes.length;
    return n;
  }

  add(token: string, kind: Kind, step: number, respondedAt: number): void {
    const parts = token.split(':');
    const version = Number(parts.pop());
    const type = parts.shift()!;
    const id = parts.join(':');
    const key = `${type}:${id}`;
    let entry = this.outstanding.get(key);
    if (!entry) this.outstanding.set(key, (entry = { type, id, writes: [] }));
    entry.writes.push({ kind, step, version, respondedAt });
  }

  start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const began = now();
        if (this.outstanding.size > 0) await this.pollOnce(began);
        const wait = this.pollMs - (now() - began);
        if (wait > 0) await sleep(wait);
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async pollOnce(sentAt: number): Promise<void> {
    const byType = new Map<string, string[]>();
    for (const { type, id } of this.outstanding.values()) {
      const ids = byType.get(type) ?? [];
      ids.push(id);
      byType.set(type, ids);
    }
    const types = [...byType.keys()];
    // (type, id) is the primary key: one ANY per type keeps the lookups on the index.
    const { rows } = await this.client.query<{
      t: string;
      id: string;
      version: string;
      applied_ms: number;
    }>(
      `SELECT aggregate_type AS t, aggregate_id::text AS id, version,
              (extract(epoch FROM applied_at) * 1000)::float8 AS applied_ms
         FROM applied_versions
        WHERE aggregate_type = $1 AND aggregate_id = ANY($2::uuid[])
           OR aggregate_type = $3 AND aggregate_id = ANY($4::uuid[])`,
      [types[0], byType.get(types[0]!) ?? [], types[1] ?? null, byType.get(types[1]!) ?? []],
    );
    this.pollDurations.push(now() - sentAt);
    for (const row of rows) {
      const key = `${row.t}:${row.id}`;
      const entry = this.outstanding.get(key);
      if (!entry) continue;
      const visible = Number(row.version);
      const remaining: Written[] = [];
      for (const write of entry.writes) {
        if (write.version <= visible) {
          this.seen.push({
            kind: write.kind,
            step: write.step,
            respondedAt: write.respondedAt,
            freshnessMs: sentAt - write.respondedAt,
            toPrimaryMs:
              write.version === visible
                ? row.applied_ms - (performance.timeOrigin + write.respondedAt)
                : null,
          });
        } else remaining.push(write);
      }
      if (remaining.length === 0) this.outstanding.delete(key);
      else entry.writes = remaining;
    }
  }

  /** Writes never seen, by kind and step (after the final drain: lost or too slow). */
  unseen(): Written[] {
    return [...this.outstanding.values()].flatMap((entry) => entry.writes);
  }
}

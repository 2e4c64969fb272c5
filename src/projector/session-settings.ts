/**
 * Server settings for the projector's sessions. JIT off: the planner misjudges `unnest` arrays by
 * orders of magnitude, and compiling the summary recomputations took most of their time. More
 * work_mem keeps the per-batch sorts and hash joins in memory. synchronous_commit stays on: the
 * replica only receives flushed WAL, so deferring the flush would delay freshness on the replica by up
 * to wal_writer_delay.
 */
export const PROJECTOR_SESSION_SETTINGS = { jit: 'off', work_mem: '64MB' } as const;

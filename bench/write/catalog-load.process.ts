/**
 * The catalog write benchmark's load generator, a process of its own (see runLoad): runs the phase
 * BENCH_LOAD describes and prints `RESULT <json>` on its last line.
 */
import { closedLoopWrites, openLoopHttp, type LoadPlan } from './catalog-load.js';

const plan = JSON.parse(process.env.BENCH_LOAD ?? '{}') as LoadPlan;
const result = plan.mode === 'closed' ? await closedLoopWrites(plan) : await openLoopHttp(plan);
process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);

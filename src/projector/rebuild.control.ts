import type { RebuildControl } from './admin.routes.js';
import { rebuildViews, type RebuildOptions, type RebuildProgress } from './rebuild.js';

/**
 * Runs rebuilds in the background of the live projector's process, one at a time, for the admin
 * routes: `start` returns false while one is running, `status` tells how the last one went.
 */
export function rebuildInBackground(options: Omit<RebuildOptions, 'onProgress' | 'groupId'>): RebuildControl {
  let state: 'idle' | 'running' | 'done' | 'failed' = 'idle';
  let progress: RebuildProgress | undefined;
  let error: string | undefined;
  return {
    start() {
      if (state === 'running') return false;
      state = 'running';
      error = undefined;
      rebuildViews({ ...options, groupId: options.liveConsumer, onProgress: (p) => (progress = p) }).then(
        () => (state = 'done'),
        (failure: unknown) => {
          state = 'failed';
          error = failure instanceof Error ? failure.message : String(failure);
          options.logger.error({ err: failure }, 'rebuild failed');
        },
      );
      return true;
    },
    status: () => ({ state, progress, error }),
  };
}

export function stampPath(root: string): string;
export function newestSourceMtime(root: string): number;
export function compiledIsFresh(root: string, env?: NodeJS.ProcessEnv): boolean;
export function compile(root: string): boolean;
export function ensureCompiled(root: string, env?: NodeJS.ProcessEnv): boolean;

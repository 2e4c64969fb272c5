import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../../src/migrate/migrator.js';

/**
 * Where results go: bench/results, unless LOCUS_BENCH_RESULTS names another folder (a smoke run that
 * must not overwrite the committed *-latest files).
 */
export const RESULTS_DIR = process.env.LOCUS_BENCH_RESULTS ?? path.join(REPO_ROOT, 'bench', 'results');

/** What the figures came from: the README quotes it beside every table. */
export function machineDescription(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return `${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}, ${os.platform()} ${os.release()}`;
}

export async function writeResults(name: string, files: Record<string, string>): Promise<string[]> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const written: string[] = [];
  for (const [suffix, content] of Object.entries(files)) {
    const file = path.join(RESULTS_DIR, `${name}${suffix}`);
    await writeFile(file, content);
    written.push(path.relative(REPO_ROOT, file));
  }
  return written;
}

/** A markdown table from rows of equal keys. */
export function markdownTable(rows: Record<string, string | number>[]): string {
  const first = rows[0];
  if (!first) return '(no rows)\n';
  const columns = Object.keys(first);
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  return (
    [
      line(columns),
      line(columns.map(() => '---')),
      ...rows.map((row) => line(columns.map((c) => row[c] ?? ''))),
    ].join('\n') + '\n'
  );
}

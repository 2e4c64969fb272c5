import { parseArgs } from 'node:util';

/** One command-line option of a benchmark: `--name <value>`, or a switch for booleans. */
export type OptionSpec =
  | { type: 'number'; default?: number; env?: string; help: string }
  | { type: 'string'; default?: string; env?: string; help: string }
  | { type: 'boolean'; help: string };

type ValueOf<S extends OptionSpec> = S extends { type: 'boolean' }
  ? boolean
  : S extends { type: 'number'; default: number }
    ? number
    : S extends { type: 'number' }
      ? number | undefined
      : S extends { default: string }
        ? string
        : string | undefined;

export type ArgValues<O extends Record<string, OptionSpec>> = { [K in keyof O]: ValueOf<O[K]> };

export interface BenchUsage {
  /** How to run it, e.g. `locus bench pipeline -- [options]`. */
  run: string;
  /** What it measures, in a sentence or two. */
  summary: string;
}

/**
 * Parses a benchmark's options from `argv` (node:util parseArgs underneath): numbers are checked to be
 * numbers, a default may come from an environment variable (`env`, for the knobs older runs set that
 * way), and `--help` prints every option with its default and exits 0. Options another benchmark of the
 * same folder takes (`locus bench write` passes its arguments to each) are ignored with a warning,
 * as they always were.
 * @throws Error naming the option whose value is not a number.
 */
export function parseBenchArgs<const O extends Record<string, OptionSpec>>(
  usage: BenchUsage,
  options: O,
  argv: string[] = process.argv.slice(2),
): ArgValues<O> {
  const { values, tokens } = parseArgs({
    args: argv,
    options: {
      help: { type: 'boolean' },
      ...Object.fromEntries(
        Object.entries(options).map(([name, spec]) => [
          name,
          { type: spec.type === 'boolean' ? ('boolean' as const) : ('string' as const) },
        ]),
      ),
    },
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  if (values.help === true) {
    console.log(helpText(usage, options));
    process.exit(0);
  }
  for (const token of tokens)
    if (token.kind === 'option' && token.name !== 'help' && !(token.name in options))
      console.warn(`(--${token.name} is not an option of this benchmark: ignored)`);
  const parsed: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(options)) parsed[name] = valueOf(name, spec, values[name]);
  return parsed as ArgValues<O>;
}

function valueOf(name: string, spec: OptionSpec, given: string | boolean | undefined): unknown {
  if (spec.type === 'boolean') return given === true;
  const raw = typeof given === 'string' ? given : spec.env ? process.env[spec.env] : undefined;
  if (raw === undefined) return spec.default;
  if (spec.type === 'string') return raw;
  const value = Number(raw);
  if (raw.trim() === '' || Number.isNaN(value)) throw new Error(`--${name} must be a number, not "${raw}"`);
  return value;
}

/** The `--help` text: usage, summary, then one line per option with its default. */
export function helpText(usage: BenchUsage, options: Record<string, OptionSpec>): string {
  const lines = [`Usage: ${usage.run}`, '', usage.summary, '', 'Options:'];
  const width = Math.max(...Object.keys(options).map((name) => name.length)) + 12;
  for (const [name, spec] of Object.entries(options)) {
    const flag = spec.type === 'boolean' ? `--${name}` : `--${name} <${spec.type}>`;
    const notes = [
      spec.type !== 'boolean' && spec.default !== undefined ? `default ${spec.default}` : '',
      spec.type !== 'boolean' && spec.env ? `or $${spec.env}` : '',
    ].filter(Boolean);
    lines.push(`  ${flag.padEnd(width)} ${spec.help}${notes.length ? ` (${notes.join(', ')})` : ''}`);
  }
  lines.push(`  ${'--help'.padEnd(width)} this text`);
  return lines.join('\n');
}

// One meshnetctl command: its usage text, its flags (node:util parseArgs, strict: an unknown flag
// or a missing value is a usage error naming it) and what it runs. main.ts finds a command by name.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../errors';

type Options = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  /** The flags given, by name (strings, or true for a boolean flag). */
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

export interface Command {
  name: string;
  /** Usage, as `meshnetctl lab CMD --help` prints it (after "usage: "). */
  usage: string;
  options?: Options;
  /** The argument list goes to run() as given (a command that passes a command line on). */
  raw?: boolean;
  run(p: Parsed, argv: string[]): Promise<number>;
}

/** `--output json|table` (table is the default), shared by the commands that can print JSON. */
export const OUTPUT_OPTION = { output: { type: 'string' } } as const satisfies Options;

export function wantsJson(p: Parsed): boolean {
  const v = p.values.output;
  if (v === undefined || v === 'table') return false;
  if (v === 'json') return true;
  throw new UsageError(`--output takes json or table, got ${JSON.stringify(v)}`);
}

/** Parses `argv` by the command's options; a flag parseArgs refuses becomes a UsageError. */
export function parse(cmd: Command, argv: string[]): Parsed {
  try {
    const r = parseArgs({ args: argv, options: cmd.options ?? {}, allowPositionals: true, strict: true });
    return { values: r.values as Parsed['values'], positionals: r.positionals };
  } catch (e) {
    // parseArgs's messages name the flag: "Unknown option '--foo'", "Option '-c' argument missing".
    throw new UsageError(`${cmd.name}: ${(e as Error).message.split('. ')[0]!.replace(/^Option '(.*)' argument missing$/, "$1 needs a value")}`);
  }
}

/** A positive whole number from a flag, or a UsageError naming it. */
export function positiveInt(flag: string, v: string | boolean | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^[1-9]\d*$/.test(v)) throw new UsageError(`${flag} needs ${what} (a positive whole number), got ${JSON.stringify(v)}`);
  return Number(v);
}

// One structured log format for every binary of the project (meshnetd, the installers, the
// plugins' log files): logfmt by default, JSON lines on request, each line with a time, a level
// and a message, then the fields that say which node, pod or wire it is about. Operators feed these
// to Loki or Elasticsearch, so a line must parse whatever a message contains (docs/configuration.md, "Logs").
import { MeshnetError } from '../errors';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['logfmt', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Values a field may have; undefined fields are left out of the line. */
export type LogFields = Record<string, string | number | boolean | undefined>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger whose lines also carry these fields. */
  with(fields: LogFields): Logger;
}

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export function isLogLevel(v: string): v is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(v);
}

export function isLogFormat(v: string): v is LogFormat {
  return (LOG_FORMATS as readonly string[]).includes(v);
}

/** Field names are logfmt keys: anything outside [A-Za-z0-9_.-] becomes `_`. */
function key(k: string): string {
  return k.replace(/[^A-Za-z0-9_.-]/g, '_') || '_';
}

/** A logfmt value: bare when it can be, else quoted with `\`, `"` and control characters escaped. */
export function logfmtValue(v: string): string {
  /* eslint-disable no-control-regex -- control characters are exactly what must be escaped */
  if (v !== '' && !/[\s"=\\\x00-\x1f\x7f]/.test(v)) return v;
  return `"${v.replace(/[\\"\x00-\x1f\x7f]/g, (c) => {
    if (c === '\\' || c === '"') return `\\${c}`;
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    if (c === '\r') return '\\r';
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  })}"`;
  /* eslint-enable no-control-regex */
}

/** One log line (with its newline). `ts`, `level` and `msg` come first; fields never override them. */
export function formatLogLine(format: LogFormat, level: LogLevel, msg: string, fields: LogFields, now: Date = new Date()): string {
  const rest = Object.entries(fields).filter(([k, v]) => v !== undefined && k !== 'ts' && k !== 'level' && k !== 'msg');
  if (format === 'json') {
    return `${JSON.stringify({ ts: now.toISOString(), level, msg, ...Object.fromEntries(rest) })}\n`;
  }
  const parts = [`ts=${now.toISOString()}`, `level=${level}`, `msg=${logfmtValue(msg)}`];
  for (const [k, v] of rest) parts.push(`${key(k)}=${logfmtValue(String(v))}`);
  return `${parts.join(' ')}\n`;
}

export interface LoggerOptions {
  format?: LogFormat;
  /** Lines below this level are dropped (default info). */
  level?: LogLevel;
  /** Fields on every line (component, node, ...). */
  fields?: LogFields;
  /** Where lines go (default: stderr; stdout of a CNI plugin carries its result). */
  write?: (line: string) => void;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const format = opts.format ?? 'logfmt';
  const min = RANK[opts.level ?? 'info'];
  const write = opts.write ?? ((s: string) => { process.stderr.write(s); });
  const make = (base: LogFields): Logger => {
    const emit = (level: LogLevel) => (msg: string, fields?: LogFields) => {
      if (RANK[level] < min) return;
      write(formatLogLine(format, level, msg, fields ? { ...base, ...fields } : base));
    };
    return {
      debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error'),
      with: (more) => make({ ...base, ...more }),
    };
  };
  return make(opts.fields ?? {});
}

/** A logger that drops everything (libraries whose caller gave none). */
export const silentLogger: Logger = createLogger({ write: () => undefined });

/** Parses one logfmt line back into its fields (what a log reader does; the tests check the format with it). */
export function parseLogfmt(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([^\s=]+)=(?:"((?:[^"\\]|\\.)*)"|(\S*))/g;
  for (let m = re.exec(line); m; m = re.exec(line)) {
    out[m[1]!] = m[2] !== undefined
      ? m[2].replace(/\\(u[0-9a-f]{4}|.)/g, (_, c: string) => {
        if (c.length === 5) return String.fromCharCode(parseInt(c.slice(1), 16));
        return c === 'n' ? '\n' : c === 't' ? '\t' : c === 'r' ? '\r' : c;
      })
      : m[3]!;
  }
  return out;
}

/** A logger that keeps each message (without fields) in `lines`: for tests and callers that show them. */
export function memoryLogger(lines: string[]): Logger {
  return createLogger({ format: 'json', level: 'debug', write: (l) => { lines.push((JSON.parse(l) as { msg: string }).msg); } });
}

export class LogConfigError extends MeshnetError {
  readonly code = 'InvalidLogSetting';
}

/**
 * The format and level from LOG_FORMAT and LOG_LEVEL (the installers' settings; meshnetd's flags
 * --log-format and --log-level override them). A bad value is refused naming the variable.
 */
export function logSettings(env: Record<string, string | undefined>, flags: { format?: string; level?: string } = {}): { format: LogFormat; level: LogLevel } {
  const format = flags.format ?? env.LOG_FORMAT ?? 'logfmt';
  const level = (flags.level ?? env.LOG_LEVEL ?? 'info').toLowerCase();
  if (!isLogFormat(format)) throw new LogConfigError(`${flags.format !== undefined ? '--log-format' : 'LOG_FORMAT'}: must be ${LOG_FORMATS.join(' or ')}, got ${JSON.stringify(format)}`);
  if (!isLogLevel(level)) throw new LogConfigError(`${flags.level !== undefined ? '--log-level' : 'LOG_LEVEL'}: must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`);
  return { format, level };
}

/** A stderr logger set up from LOG_FORMAT and LOG_LEVEL; a bad value is reported once and the defaults used. */
export function loggerFromEnv(env: Record<string, string | undefined>, fields: LogFields): Logger {
  try {
    return createLogger({ ...logSettings(env), fields });
  } catch (e) {
    const log = createLogger({ fields });
    log.warn(`${(e as Error).message}; using logfmt at level info`);
    return log;
  }
}

/**
 * At most one line per key every `intervalMs`; the next line of a key says how many were held
 * back. For what a peer can make happen at will (frames for unknown wires, broken connections):
 * an operator sees that it happens without the log being flooded. Keys are fixed strings chosen
 * by the caller, never data from the peer (at most MAX_KEYS are tracked).
 */
export class LogLimiter {
  private static readonly MAX_KEYS = 256;
  private readonly seen = new Map<string, { at: number; held: number }>();

  constructor(private readonly log: Logger, private readonly intervalMs = 10_000, private readonly now: () => number = Date.now) {}

  warn(key: string, msg: string, fields?: LogFields): void {
    const t = this.now();
    const s = this.seen.get(key);
    if (s && t - s.at < this.intervalMs) {
      s.held++;
      return;
    }
    if (!s && this.seen.size >= LogLimiter.MAX_KEYS) this.seen.clear();
    const held = s?.held ?? 0;
    this.seen.set(key, { at: t, held: 0 });
    this.log.warn(held ? `${msg} (and ${held} more like it in the last ${Math.round((t - s!.at) / 1000)} s)` : msg, fields);
  }
}

// A small file logger for the meta plugins. stdout carries the CNI result, so logs go to the
// configured file (log_options.log_file), never to stdout. Synchronous appends: a plugin process
// lives for milliseconds and must not exit with log lines still queued. Logging never fails the
// plugin: if the file cannot be written, one note goes to stderr and logging stops.
import { appendFileSync, mkdirSync, readdirSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { LogLevel, LogOptions } from './config';
import { formatLogLine, type LogFields, type Logger } from '../log';

export type { Logger } from '../log';

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export class FileLogger implements Logger {
  private broken = false;

  constructor(
    private readonly opts: LogOptions,
    /** Fields on every line (logfmt, as every log of the project): plugin, command, container id, interface. */
    private readonly context: LogFields,
    private readonly stderr: (s: string) => void = (s) => process.stderr.write(s),
  ) {
    try {
      mkdirSync(dirname(opts.file), { recursive: true });
      this.rotate();
    } catch (e) {
      this.disable(e);
    }
  }

  debug(msg: string, fields?: LogFields): void { this.write('debug', msg, fields); }
  info(msg: string, fields?: LogFields): void { this.write('info', msg, fields); }
  warn(msg: string, fields?: LogFields): void { this.write('warn', msg, fields); }
  error(msg: string, fields?: LogFields): void { this.write('error', msg, fields); }

  with(fields: LogFields): Logger {
    return new FileLogger(this.opts, { ...this.context, ...fields }, this.stderr);
  }

  private write(level: LogLevel, msg: string, fields?: LogFields): void {
    if (this.broken || RANK[level] < RANK[this.opts.level]) return;
    try {
      appendFileSync(this.opts.file, formatLogLine('logfmt', level, msg, { ...this.context, ...fields }));
    } catch (e) {
      this.disable(e);
    }
  }

  private disable(e: unknown): void {
    this.broken = true;
    this.stderr(`meta-plugins: cannot write log file ${this.opts.file}: ${e instanceof Error ? e.message : String(e)}\n`);
  }

  /** file → file.1 → file.2 ...; drops files past log_max_count and older than log_max_age. */
  private rotate(): void {
    let size = 0;
    try {
      size = statSync(this.opts.file).size;
    } catch {
      return; // no file yet
    }
    if (size >= this.opts.maxSizeMb * 1024 * 1024) {
      for (let i = this.opts.maxCount - 1; i >= 1; i--) {
        try { renameSync(`${this.opts.file}.${i}`, `${this.opts.file}.${i + 1}`); } catch { /* gap in the series */ }
      }
      if (this.opts.maxCount > 0) renameSync(this.opts.file, `${this.opts.file}.1`);
      else unlinkSync(this.opts.file);
    }
    const dir = dirname(this.opts.file);
    const base = basename(this.opts.file);
    const cutoff = Date.now() - this.opts.maxAgeDays * 86_400_000;
    for (const name of readdirSync(dir)) {
      const m = name.startsWith(`${base}.`) ? /^(\d+)$/.exec(name.slice(base.length + 1)) : null;
      if (!m) continue;
      const p = join(dir, name);
      if (Number(m[1]) > this.opts.maxCount || statSync(p).mtimeMs < cutoff) unlinkSync(p);
    }
  }
}

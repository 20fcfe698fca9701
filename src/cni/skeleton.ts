// The plugin skeleton: the only code in a plugin that reads the environment and stdin or writes
// stdout. Plugins hand it their ADD/DEL/CHECK/STATUS/GC functions; it validates input, enforces
// the per-version rules of the spec, and maps every failure to a CNI error object on stdout.
import { versionLine } from '../build';
import { parseNetConf, type NetConf } from './config';
import { isRecord } from './decode';
import { CniError, ErrorCode } from './errors';
import { type CniCommand, type CniEnv, parseEnv } from './env';
import { formatResult } from './result';
import type { CniResult } from './types';
import { type CniVersion, isSupportedVersion, LATEST_VERSION, SUPPORTED_VERSIONS, versionAtLeast } from './versions';

export interface PluginContext {
  env: CniEnv;
  conf: NetConf;
}

export interface PluginFuncs {
  /** One line naming the plugin; printed to stderr when the binary is run without CNI_COMMAND. */
  about: string;
  /** Versions the plugin accepts; defaults to all SUPPORTED_VERSIONS. */
  versions?: readonly CniVersion[];
  add(ctx: PluginContext): Promise<CniResult>;
  /** Absent: CHECK succeeds once the config and environment are valid. */
  check?(ctx: PluginContext): Promise<void>;
  del(ctx: PluginContext): Promise<void>;
  /** Absent: the plugin is always ready. Throw CniError 50/51 to report unavailability. */
  status?(ctx: PluginContext): Promise<void>;
  /** Absent: GC succeeds (nothing to collect). Valid attachments are in conf.raw["cni.dev/valid-attachments"]. */
  gc?(ctx: PluginContext): Promise<void>;
}

export interface PluginIO {
  env: Record<string, string | undefined>;
  /** Command-line arguments (a runtime passes none; a human may pass --version). */
  args?: readonly string[];
  readStdin(): Promise<string>;
  writeStdout(s: string): void;
  writeStderr(s: string): void;
}

/** The real process's environment and streams. */
export function processIO(): PluginIO {
  return {
    env: process.env,
    args: process.argv.slice(2),
    async readStdin(): Promise<string> {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
      return Buffer.concat(chunks).toString('utf8');
    },
    writeStdout(s: string): void {
      process.stdout.write(s);
    },
    writeStderr(s: string): void {
      process.stderr.write(s);
    },
  };
}

/**
 * Runs one CNI invocation and returns the exit code (0 or 1); the caller sets process.exitCode.
 * On failure the spec's error object is printed on stdout in the config's cniVersion (or the
 * newest version when the config could not be read). Exceptions that are not CniError become
 * code 999 "internal error" with the exception's message as details and its stack on stderr.
 */
export async function runPlugin(funcs: PluginFuncs, io: PluginIO = processIO()): Promise<number> {
  const supported = funcs.versions ?? SUPPORTED_VERSIONS;
  // The version errors are reported in: the config's, as soon as we have seen one.
  let errorVersion: CniVersion = LATEST_VERSION;

  try {
    const rawCommand = io.env['CNI_COMMAND'] ?? '';
    if (io.args?.includes('--version')) {
      io.writeStdout(`${versionLine(funcs.about.split(':')[0]!)}\nCNI protocol versions supported: ${supported.join(', ')}\n`);
      return 0;
    }
    // Like the reference skel: a human running the binary by hand gets a description, not an error.
    if (rawCommand === '' && funcs.about !== '') {
      io.writeStderr(`${funcs.about}\nCNI protocol versions supported: ${supported.join(', ')}\n`);
      return 0;
    }

    // VERSION is answered without reading stdin, so it works from a terminal too.
    if (rawCommand === 'VERSION') {
      io.writeStdout(`${JSON.stringify({ cniVersion: LATEST_VERSION, supportedVersions: [...supported] })}\n`);
      return 0;
    }

    // Read stdin before validating the environment: a runtime that set any command sent a
    // config, and errors (even for an unknown CNI_COMMAND) should be in that config's version.
    let stdin = '';
    if (rawCommand !== '') {
      try {
        stdin = await io.readStdin();
      } catch (e) {
        throw new CniError(ErrorCode.IOFailure, 'failed to read stdin', errorMessage(e));
      }
      errorVersion = sniffVersion(stdin) ?? errorVersion;
    }

    const env = parseEnv(io.env);
    const command = env.command;
    const conf = parseNetConf(stdin);
    errorVersion = conf.cniVersion;

    if (!supported.includes(conf.cniVersion)) {
      throw new CniError(
        ErrorCode.IncompatibleVersion,
        'incompatible CNI versions',
        `config is ${JSON.stringify(conf.cniVersion)}, plugin supports [${supported.join(', ')}]`,
      );
    }
    requireVersionFor(command, conf.cniVersion);

    const ctx: PluginContext = { env, conf };
    switch (command) {
      case 'ADD': {
        const result = await funcs.add(ctx);
        io.writeStdout(`${JSON.stringify(formatResult(result, conf.cniVersion))}\n`);
        return 0;
      }
      case 'DEL':
        await funcs.del(ctx);
        return 0;
      case 'CHECK':
        if (funcs.check) await funcs.check(ctx);
        return 0;
      case 'STATUS':
        if (funcs.status) await funcs.status(ctx);
        return 0;
      case 'GC':
        if (funcs.gc) await funcs.gc(ctx);
        return 0;
      case 'VERSION': // answered before stdin was read; listed so the switch stays exhaustive
        return 0;
    }
  } catch (e) {
    const err = toCniError(e);
    if (!(e instanceof CniError) && e instanceof Error && e.stack) io.writeStderr(`${e.stack}\n`);
    io.writeStdout(`${JSON.stringify(err.toJSON(errorVersion))}\n`);
    return 1;
  }
}

// Commands newer than the oldest supported version are refused for configs that predate them:
// a runtime speaking 0.3.x cannot expect CHECK semantics, nor one speaking 1.0.0 STATUS/GC.
function requireVersionFor(command: CniCommand, v: CniVersion): void {
  const min: CniVersion | undefined = command === 'CHECK' ? '0.4.0' : command === 'STATUS' || command === 'GC' ? '1.1.0' : undefined;
  if (min !== undefined && !versionAtLeast(v, min)) {
    throw new CniError(
      ErrorCode.IncompatibleVersion,
      `config version does not allow ${command}`,
      `${command} needs cniVersion ${min} or newer; the config has ${JSON.stringify(v)}`,
    );
  }
}

// Best effort, so that errors found before the config is fully validated (e.g. a bad CNI_IFNAME)
// are still reported in the version the runtime asked for.
function sniffVersion(stdin: string): CniVersion | undefined {
  try {
    const v: unknown = JSON.parse(stdin);
    return isRecord(v) && isSupportedVersion(v['cniVersion']) ? v['cniVersion'] : undefined;
  } catch {
    return undefined;
  }
}

function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

/** Maps anything thrown by a plugin to a CniError; exported for plugins that report errors themselves. */
export function toCniError(e: unknown): CniError {
  if (e instanceof CniError) return e;
  let details = errorMessage(e);
  // Kernel/libc errors carry an errno name ("EEXIST") in `code`; keep it visible to the user.
  if (isRecord(e) && typeof e['code'] === 'string' && e['code'] !== '' && !details.includes(e['code'])) {
    details = `${e['code']}: ${details}`;
  }
  return new CniError(ErrorCode.Internal, 'internal error', details);
}

// The runtime side (what libcni does for a container runtime): find plugin binaries, execute
// them with the CNI environment and config on stdin, and run configuration lists in order.
import { spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { formatCniArgs } from './args';
import type { ConfList } from './config';
import { isRecord } from './decode';
import { CniError, describeValue, ErrorCode } from './errors';
import type { CniCommand } from './env';
import { formatResult, parseResult } from './result';
import type { CniResult } from './types';
import { type CniVersion, LATEST_VERSION, versionAtLeast } from './versions';

export interface Invocation {
  containerId: string;
  netns: string;
  ifname: string;
  /** Formatted into CNI_ARGS. */
  args?: Record<string, string>;
  /** Directories searched for plugin binaries, in order; also passed as CNI_PATH. */
  path: string[];
  /** Command prefix, e.g. ['nsenter', '--net=/var/run/netns/node1', '--'] so a plugin runs in a node's netns. */
  wrapper?: string[];
  /** Extra environment for the plugin (wins over the CNI_* variables). */
  env?: Record<string, string>;
  /** Kill the plugin (SIGKILL) after this long; no limit when absent. */
  timeoutMs?: number;
  /**
   * Runtime values for plugin capabilities (e.g. { portMappings: [...] }): each plugin receives,
   * in runtimeConfig, the entries whose key it declares in "capabilities" with value true.
   */
  capabilityArgs?: Record<string, unknown>;
}

export interface ExecTrace {
  plugin: string;
  command: CniCommand;
  ms: number;
}

/**
 * A plugin failed. `code`, `msg` and `details` are the plugin's own (so the error can be
 * forwarded unchanged with toJSON); the message is prefixed with the plugin type.
 */
export class PluginExecError extends CniError {
  readonly plugin: string;
  readonly command: CniCommand;
  /** The plugin's stderr, for diagnostics. */
  readonly stderr: string;

  constructor(plugin: string, command: CniCommand, code: number, msg: string, details: string, stderr: string) {
    super(code, msg, details);
    this.plugin = plugin;
    this.command = command;
    this.stderr = stderr;
    this.message = `${plugin}: ${this.message}`;
  }
}

/**
 * Finds `type` in the directories of `path`. Throws CniError PluginNotAvailable (50) naming the
 * type and the directories searched when there is no executable file of that name.
 */
export async function findPlugin(type: string, path: readonly string[]): Promise<string> {
  // The type comes from a config file; never let it name a file outside the plugin directories.
  if (type === '' || type.includes('/') || type === '.' || type === '..') {
    throw new CniError(ErrorCode.InvalidNetworkConfig, 'invalid plugin type', `type ${describeValue(type)} must be a file name without "/"`);
  }
  for (const dir of path) {
    const candidate = join(dir, type);
    try {
      if ((await stat(candidate)).isFile()) {
        await access(candidate, fsConstants.X_OK);
        return candidate;
      }
    } catch {
      // Missing or not executable here: keep searching, as PATH lookup does.
    }
  }
  throw new CniError(
    ErrorCode.PluginNotAvailable,
    'plugin not found',
    `no executable "${type}" in CNI path [${path.join(', ')}]`,
  );
}

function pluginType(conf: Record<string, unknown>): string {
  const t = conf['type'];
  if (typeof t !== 'string') {
    throw new CniError(ErrorCode.InvalidNetworkConfig, 'invalid plugin type', `type must be a string, got ${describeValue(t)}`);
  }
  return t;
}

function buildEnv(command: CniCommand, inv: Invocation): Record<string, string> {
  // A minimal environment: plugins must not depend on whatever the runtime process happens to have.
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: command,
    CNI_PATH: inv.path.join(':'),
  };
  if (inv.containerId !== '') env['CNI_CONTAINERID'] = inv.containerId;
  if (inv.netns !== '') env['CNI_NETNS'] = inv.netns;
  if (inv.ifname !== '') env['CNI_IFNAME'] = inv.ifname;
  if (inv.args !== undefined && Object.keys(inv.args).length > 0) env['CNI_ARGS'] = formatCniArgs(inv.args);
  return { ...env, ...inv.env };
}

interface ExecOutcome {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

function execFile(argv: readonly string[], env: Record<string, string>, stdin: string, timeoutMs?: number): Promise<ExecOutcome> {
  return new Promise((resolve, reject) => {
    const [file, ...rest] = argv;
    if (file === undefined) {
      reject(new CniError(ErrorCode.Internal, 'internal error', 'empty command line'));
      return;
    }
    const child = spawn(file, rest, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
    }
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    // A plugin may exit without reading its config (e.g. it fails early); that EPIPE is not our error.
    child.stdin.on('error', () => {});
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(new CniError(ErrorCode.Internal, 'internal error', `cannot execute ${JSON.stringify(file)}: ${e.message}`));
    });
    const finish = (status: number | null, signal: NodeJS.Signals | null): void => {
      if (timer) clearTimeout(timer);
      resolve({
        status,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
      });
    };
    child.on('close', finish);
    // After a timeout kill, a grandchild that inherited stdout could keep 'close' from firing
    // for as long as it lives; the plugin itself is gone, so stop waiting at its exit.
    child.on('exit', (status, signal) => {
      if (timedOut) finish(status, signal);
    });
    child.stdin.end(stdin);
  });
}

async function runBinary(
  type: string,
  stdinObj: Record<string, unknown>,
  command: CniCommand,
  inv: Invocation,
  trace?: ExecTrace[],
): Promise<unknown> {
  const binary = await findPlugin(type, inv.path);
  const started = performance.now();
  let outcome: ExecOutcome;
  try {
    outcome = await execFile([...(inv.wrapper ?? []), binary], buildEnv(command, inv), JSON.stringify(stdinObj), inv.timeoutMs);
  } finally {
    trace?.push({ plugin: type, command, ms: performance.now() - started });
  }
  const { status, signal, stdout, stderr, timedOut } = outcome;
  const stderrNote = stderr.trim() === '' ? '' : `; stderr: ${stderr.trim()}`;

  if (status === 0) {
    if (stdout.trim() === '') return undefined;
    try {
      return JSON.parse(stdout) as unknown;
    } catch {
      throw new PluginExecError(type, command, ErrorCode.DecodeFailure, 'invalid plugin output',
        `${command} succeeded but stdout is not JSON: ${describeValue(stdout.trim())}`, stderr);
    }
  }

  if (timedOut) {
    throw new PluginExecError(type, command, ErrorCode.Internal, 'plugin timed out',
      `${command} did not finish within ${inv.timeoutMs}ms and was killed${stderrNote}`, stderr);
  }
  const reported = parseErrorObject(stdout);
  if (reported) throw new PluginExecError(type, command, reported.code, reported.msg, reported.details, stderr);
  const how = signal !== null ? `was killed by ${signal}` : `exited with status ${status}`;
  const stdoutNote = stdout.trim() === '' ? '' : `; stdout: ${describeValue(stdout.trim())}`;
  throw new PluginExecError(type, command, ErrorCode.Internal, 'plugin failed',
    `${command} ${how} without a CNI error${stdoutNote}${stderrNote}`, stderr);
}

function parseErrorObject(stdout: string): { code: number; msg: string; details: string } | undefined {
  let v: unknown;
  try {
    v = JSON.parse(stdout);
  } catch {
    return undefined;
  }
  if (!isRecord(v) || typeof v['code'] !== 'number' || !Number.isInteger(v['code'])) return undefined;
  const msg = typeof v['msg'] === 'string' ? v['msg'] : '';
  const details = typeof v['details'] === 'string' ? v['details'] : '';
  return { code: v['code'], msg, details };
}

/**
 * Executes one plugin with `pluginConf` on stdin. Returns the parsed stdout (undefined when the
 * plugin printed nothing). Throws PluginExecError (a CniError) carrying the plugin's error code,
 * or code 999 with its stderr when it failed without a CNI error; CniError 50 when not found.
 */
export async function execPlugin(
  pluginConf: Record<string, unknown>,
  command: CniCommand,
  inv: Invocation,
  trace?: ExecTrace[],
): Promise<unknown> {
  return runBinary(pluginType(pluginConf), pluginConf, command, inv, trace);
}

/**
 * The config a list hands to one of its plugins: the plugin's own keys plus the list's name and
 * version, the capability values it asked for, and the previous result when given.
 */
export function buildPluginConf(
  list: ConfList,
  plugin: Record<string, unknown>,
  inv: Invocation,
  prevResult?: CniResult,
): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...plugin, name: list.name, cniVersion: list.cniVersion };
  const caps = plugin['capabilities'];
  if (isRecord(caps) && inv.capabilityArgs !== undefined) {
    const rc: Record<string, unknown> = isRecord(plugin['runtimeConfig']) ? { ...plugin['runtimeConfig'] } : {};
    for (const [key, enabled] of Object.entries(caps)) {
      if (enabled === true && key in inv.capabilityArgs) rc[key] = inv.capabilityArgs[key];
    }
    if (Object.keys(rc).length > 0) conf['runtimeConfig'] = rc;
  }
  if (prevResult !== undefined) conf['prevResult'] = formatResult(prevResult, list.cniVersion);
  return conf;
}

/**
 * ADD for a whole list: runs each plugin in order, giving each the previous plugin's result as
 * prevResult, and returns the last result (in the list's version). Stops at the first failure;
 * like libcni it does not undo the plugins that succeeded (the runtime calls DEL).
 */
export async function addNetworkList(list: ConfList, inv: Invocation, trace?: ExecTrace[]): Promise<CniResult> {
  let prev: CniResult | undefined;
  for (const plugin of list.plugins) {
    const conf = buildPluginConf(list, plugin, inv, prev);
    const type = pluginType(conf);
    const out = await execPlugin(conf, 'ADD', inv, trace);
    if (out === undefined) {
      throw new CniError(ErrorCode.DecodeFailure, 'invalid plugin output', `${type}: ADD succeeded but printed no result`);
    }
    // The result is re-stamped with the list's version: that is the version we asked for.
    prev = { ...parseResult(out, `${type} result`, list.cniVersion), cniVersion: list.cniVersion };
  }
  if (prev === undefined) throw new CniError(ErrorCode.InvalidNetworkConfig, 'invalid network configuration list', 'plugins is empty');
  return prev;
}

/** CHECK for a whole list, in order, each plugin given `prevResult`. A no-op when the list sets disableCheck. */
export async function checkNetworkList(list: ConfList, inv: Invocation, prevResult: CniResult, trace?: ExecTrace[]): Promise<void> {
  if (list.disableCheck === true) return;
  if (!versionAtLeast(list.cniVersion, '0.4.0')) {
    throw new CniError(ErrorCode.IncompatibleVersion, 'configuration version does not allow CHECK',
      `network ${JSON.stringify(list.name)} has cniVersion ${list.cniVersion}; CHECK needs 0.4.0 or newer`);
  }
  for (const plugin of list.plugins) {
    await execPlugin(buildPluginConf(list, plugin, inv, prevResult), 'CHECK', inv, trace);
  }
}

/**
 * DEL for a whole list, in reverse order. `prevResult` (the cached ADD result) is passed only for
 * 0.4.0 and newer, because 0.3.x did not define prevResult for DEL. Stops at the first failure.
 */
export async function delNetworkList(list: ConfList, inv: Invocation, prevResult?: CniResult, trace?: ExecTrace[]): Promise<void> {
  const prev = prevResult !== undefined && versionAtLeast(list.cniVersion, '0.4.0') ? prevResult : undefined;
  for (const plugin of [...list.plugins].reverse()) {
    await execPlugin(buildPluginConf(list, plugin, inv, prev), 'DEL', inv, trace);
  }
}

/** The versions a plugin reports for VERSION (its "supportedVersions"). */
export async function pluginVersions(type: string, path: string[]): Promise<string[]> {
  const inv: Invocation = { containerId: '', netns: '', ifname: '', path };
  const stdinVersion: CniVersion = LATEST_VERSION;
  const out = await runBinary(type, { cniVersion: stdinVersion }, 'VERSION', inv);
  const versions = isRecord(out) ? out['supportedVersions'] : undefined;
  if (!Array.isArray(versions) || !versions.every((v): v is string => typeof v === 'string')) {
    throw new CniError(ErrorCode.DecodeFailure, 'invalid plugin output',
      `${type}: VERSION output has no "supportedVersions" string array: ${describeValue(out)}`);
  }
  return versions;
}

// The CNI_* environment of a plugin invocation, parsed and validated once.
import { existsSync } from 'node:fs';
import { type CniArgs, parseCniArgs } from './args';
import { CniError, ErrorCode } from './errors';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'STATUS' | 'GC';

export const CNI_COMMANDS: readonly CniCommand[] = ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC'];

export interface CniEnv {
  command: CniCommand;
  /** '' when the command does not take one (VERSION, STATUS, GC). */
  containerId: string;
  /** '' when not given (allowed for DEL, VERSION, STATUS, GC). */
  netns: string;
  /** '' when the command does not take one. */
  ifname: string;
  args: CniArgs;
  argsRaw: string;
  /** CNI_PATH split on ":", empty entries dropped. */
  path: string[];
}

type Var = 'CNI_CONTAINERID' | 'CNI_NETNS' | 'CNI_IFNAME' | 'CNI_PATH';

// Which variables each command requires, as in the spec's "Parameters" section.
const REQUIRED: Record<CniCommand, readonly Var[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH'],
  VERSION: [],
  STATUS: ['CNI_PATH'],
  GC: ['CNI_PATH'],
};

const IFNAME_MAX_BYTES = 15; // IFNAMSIZ (16) minus the terminating NUL
const CONTAINER_ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

function envError(variable: string, details: string): CniError {
  return new CniError(ErrorCode.InvalidEnvironment, `invalid ${variable}`, details);
}

export function isCniCommand(v: unknown): v is CniCommand {
  return typeof v === 'string' && (CNI_COMMANDS as readonly string[]).includes(v);
}

/** Parses CNI_COMMAND alone (the skeleton needs it before deciding whether to read stdin). */
export function parseCommand(env: Record<string, string | undefined>): CniCommand {
  const cmd = env['CNI_COMMAND'];
  if (cmd === undefined || cmd === '') throw envError('CNI_COMMAND', 'CNI_COMMAND is not set');
  if (!isCniCommand(cmd)) {
    throw envError('CNI_COMMAND', `CNI_COMMAND=${JSON.stringify(cmd)} is not one of ${CNI_COMMANDS.join(', ')}`);
  }
  return cmd;
}

/** Throws CniError InvalidEnvironment (4) when `name` is not a usable interface name (same rules as the reference skel). */
export function validateIfName(name: string): void {
  if (name === '') throw envError('CNI_IFNAME', 'CNI_IFNAME is empty');
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > IFNAME_MAX_BYTES) {
    throw envError(
      'CNI_IFNAME',
      `CNI_IFNAME ${JSON.stringify(name)} is ${bytes} bytes; Linux interface names are at most ${IFNAME_MAX_BYTES}`,
    );
  }
  if (name === '.' || name === '..') throw envError('CNI_IFNAME', `CNI_IFNAME ${JSON.stringify(name)} is not allowed`);
  if (/[/:\s]/u.test(name)) {
    throw envError('CNI_IFNAME', `CNI_IFNAME ${JSON.stringify(name)} contains "/", ":" or whitespace`);
  }
}

export function validateContainerId(id: string): void {
  if (!CONTAINER_ID_RE.test(id)) {
    throw envError(
      'CNI_CONTAINERID',
      `CNI_CONTAINERID ${JSON.stringify(id)} must start with a letter or digit and contain only letters, digits, "_", "." and "-"`,
    );
  }
}

/**
 * Parses the CNI environment. Missing or invalid variables throw CniError InvalidEnvironment (4)
 * whose msg and details name the variable. Whether CNI_NETNS exists is not checked here; see
 * requireNetnsPath.
 */
export function parseEnv(env: Record<string, string | undefined>): CniEnv {
  const command = parseCommand(env);
  const required = REQUIRED[command];
  const get = (name: Var): string => {
    const v = env[name] ?? '';
    if (v === '' && required.includes(name)) {
      throw envError(name, `${name} is required for ${command} but is not set`);
    }
    return v;
  };

  const containerId = get('CNI_CONTAINERID');
  const netns = get('CNI_NETNS');
  const ifname = get('CNI_IFNAME');
  const pathRaw = get('CNI_PATH');
  if (required.includes('CNI_CONTAINERID')) validateContainerId(containerId);
  if (required.includes('CNI_IFNAME')) validateIfName(ifname);

  // VERSION must answer whatever else is in the environment, so CNI_ARGS is not judged for it.
  const argsRaw = env['CNI_ARGS'] ?? '';
  const args = command === 'VERSION' ? parseCniArgs(undefined) : parseCniArgs(argsRaw);

  return {
    command,
    containerId,
    netns,
    ifname,
    args,
    argsRaw,
    path: pathRaw.split(':').filter((p) => p !== ''),
  };
}

/**
 * For ADD and CHECK the netns must exist: throws CniError InvalidEnvironment (4) naming CNI_NETNS
 * and the path. For every other command it returns, because DEL of a vanished netns is a success
 * in CNI (the runtime may already have removed it).
 */
export function requireNetnsPath(path: string, command: CniCommand): void {
  if (command !== 'ADD' && command !== 'CHECK') return;
  if (path === '' || !existsSync(path)) {
    throw envError('CNI_NETNS', `CNI_NETNS: netns path ${JSON.stringify(path)} does not exist`);
  }
}

// Network configuration: a single plugin's config (what a plugin reads on stdin) and a
// configuration list (what a runtime loads from disk and feeds to each plugin in turn).
import { Decoder, isRecord } from './decode';
import { CniError, describeValue, ErrorCode } from './errors';
import { parseResult } from './result';
import type { CniResult } from './types';
import { type CniVersion, isSupportedVersion, SUPPORTED_VERSIONS } from './versions';

export interface NetConf {
  cniVersion: CniVersion;
  name: string;
  type: string;
  /** Parsed and validated; absent when the runtime sent none (first plugin of a chain). */
  prevResult?: CniResult;
  runtimeConfig?: Record<string, unknown>;
  /** The whole object as received, for plugin-specific keys. */
  raw: Record<string, unknown>;
}

export interface ConfList {
  /** The version every plugin is run with (the highest supported entry of cniVersions, if given). */
  cniVersion: CniVersion;
  name: string;
  plugins: Record<string, unknown>[];
  disableCheck?: boolean;
  disableGC?: boolean;
  raw: Record<string, unknown>;
}

// Same rule as the reference implementation: the name ends up in file paths and cache keys.
const NETWORK_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

function decodeJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new CniError(ErrorCode.DecodeFailure, `failed to decode ${what}`, (e as Error).message);
  }
}

function requireObject(v: unknown, what: string): Record<string, unknown> {
  if (!isRecord(v)) {
    throw new CniError(ErrorCode.DecodeFailure, `failed to decode ${what}`, `${what} must be a JSON object, got ${describeValue(v)}`);
  }
  return v;
}

function unsupportedVersion(key: string, v: unknown): CniError {
  return new CniError(
    ErrorCode.IncompatibleVersion,
    'unsupported cniVersion',
    `${key} ${describeValue(v)} is not supported; supported versions: ${SUPPORTED_VERSIONS.join(', ')}`,
  );
}

function requireVersion(obj: Record<string, unknown>): CniVersion {
  const v = obj['cniVersion'];
  if (v === undefined || v === null || v === '') {
    throw new CniError(ErrorCode.IncompatibleVersion, 'missing cniVersion', 'the network configuration has no "cniVersion" key');
  }
  if (!isSupportedVersion(v)) throw unsupportedVersion('cniVersion', v);
  return v;
}

function requireName(obj: Record<string, unknown>, path: string): string {
  const name = obj['name'];
  if (typeof name !== 'string' || name === '') {
    throw new CniError(ErrorCode.InvalidNetworkConfig, 'missing network name', `${path}name must be a non-empty string, got ${describeValue(name)}`);
  }
  if (!NETWORK_NAME_RE.test(name)) {
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      'invalid network name',
      `${path}name ${JSON.stringify(name)} must start with a letter or digit and contain only letters, digits, "_", "." and "-"`,
    );
  }
  return name;
}

/**
 * Parses a plugin's stdin. Errors: malformed JSON or a non-object → DecodeFailure (6) with the
 * parser's message; missing/unknown cniVersion → IncompatibleVersion (1); missing or invalid
 * name/type/runtimeConfig → InvalidNetworkConfig (7) naming the key; a bad prevResult →
 * DecodeFailure (6) naming the field path (e.g. "prevResult.ips[1].address").
 */
export function parseNetConf(stdin: string): NetConf {
  const raw = requireObject(decodeJson(stdin, 'network configuration'), 'network configuration');
  const cniVersion = requireVersion(raw);
  const name = requireName(raw, '');

  const type = raw['type'];
  if (typeof type !== 'string' || type === '') {
    throw new CniError(ErrorCode.InvalidNetworkConfig, 'missing plugin type', `type must be a non-empty string, got ${describeValue(type)}`);
  }

  const conf: NetConf = { cniVersion, name, type, raw };

  const prev = raw['prevResult'];
  if (prev !== undefined && prev !== null) conf.prevResult = parseResult(prev, 'prevResult', cniVersion);

  const rc = raw['runtimeConfig'];
  if (rc !== undefined && rc !== null) {
    if (!isRecord(rc)) {
      throw new CniError(ErrorCode.InvalidNetworkConfig, 'invalid runtimeConfig', `runtimeConfig must be an object, got ${describeValue(rc)}`);
    }
    conf.runtimeConfig = rc;
  }
  return conf;
}

/**
 * Parses a configuration list (a JSON string, or an already-decoded value). When `cniVersions` is
 * present the highest version we support from it wins, as in spec 1.1.0; otherwise `cniVersion`.
 * Every plugin must have a non-empty string `type` without "/" (it is looked up as a file name);
 * errors name the element, e.g. "plugins[2].type".
 */
export function parseConfList(json: string | unknown): ConfList {
  const value = typeof json === 'string' ? decodeJson(json, 'network configuration list') : json;
  const raw = requireObject(value, 'network configuration list');
  const d: Decoder = new Decoder(ErrorCode.InvalidNetworkConfig, 'invalid network configuration list');

  let cniVersion: CniVersion;
  const versions = d.optStringArray(raw, 'cniVersions', 'conflist');
  if (versions !== undefined && versions.length > 0) {
    const supported = SUPPORTED_VERSIONS.filter((v) => versions.includes(v));
    const best = supported[supported.length - 1];
    if (best === undefined) throw unsupportedVersion('cniVersions', versions);
    cniVersion = best;
  } else {
    cniVersion = requireVersion(raw);
  }
  const name = requireName(raw, '');

  const pluginsRaw = raw['plugins'];
  if (!Array.isArray(pluginsRaw) || pluginsRaw.length === 0) {
    throw new CniError(ErrorCode.InvalidNetworkConfig, 'invalid network configuration list', `plugins must be a non-empty array, got ${describeValue(pluginsRaw)}`);
  }
  const plugins = pluginsRaw.map((p, i) => {
    const obj = d.object(p, `plugins[${i}]`);
    const type = obj['type'];
    if (typeof type !== 'string' || type === '' || type.includes('/') || type === '.' || type === '..') {
      d.fail(`plugins[${i}].type`, `must be a plugin binary name (non-empty, no "/"), got ${describeValue(type)}`);
    }
    return obj;
  });

  const list: ConfList = { cniVersion, name, plugins, raw };
  const disableCheck = d.optBool(raw, 'disableCheck', 'conflist');
  if (disableCheck !== undefined) list.disableCheck = disableCheck;
  const disableGC = d.optBool(raw, 'disableGC', 'conflist');
  if (disableGC !== undefined) list.disableGC = disableGC;
  return list;
}

// The config keys of the veth and router plugins (snake_case, as upstream), parsed once into
// typed values. Every error is CniError 7 whose details start with the key, e.g.
//   "service_hijack_subnet[1]": "10.0.0.0/33" is not a CIDR: prefix 33 is larger than 32 for IPv4
// Unknown keys are ignored: runtimes and Multus add their own.
import { CniError, ErrorCode, describeValue, parseCidr } from '../cni';
import { validateIfName as kernelIfName } from '../kernel';
import { formatNet, networkOf, type IpNet } from './cidr';

export type PluginName = 'veth' | 'router';
export type MigrateRoute = -1 | 0 | 1;
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface RpFilter {
  /** Also set rp_filter on the host side of the pod's link (only that interface, never host-wide). */
  setHost: boolean;
  value: 0 | 1 | 2;
}

export interface LogOptions {
  level: LogLevel;
  file: string;
  /** Rotate when the file is larger than this many MB. */
  maxSizeMb: number;
  /** Delete rotated files older than this many days. */
  maxAgeDays: number;
  /** Keep at most this many rotated files. */
  maxCount: number;
}

export interface IpConflict {
  enabled: boolean;
  /** Wait between probes, in milliseconds. */
  intervalMs: number;
  /** Number of probes per address. */
  retries: number;
}

export interface MetaConf {
  overlayHijackSubnet: IpNet[];
  serviceHijackSubnet: IpNet[];
  additionalHijackSubnet: IpNet[];
  migrateRoute: MigrateRoute;
  skipCall: boolean;
  rpFilter: RpFilter;
  log: LogOptions;
  /** Two hex bytes, lower case, e.g. "0a:1b". */
  macPrefix?: string;
  onlyOpMac: boolean;
  ipConflict?: IpConflict;
}

export interface RouterConf extends MetaConf {
  overlayInterface: string;
  hostRuleTable: number;
  sriov: boolean;
}

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

class KeyError {
  constructor(private readonly plugin: PluginName) {}

  fail(key: string, problem: string): never {
    throw new CniError(ErrorCode.InvalidNetworkConfig, `invalid ${this.plugin} config`, `${JSON.stringify(key)}: ${problem}`);
  }
}

function cidrList(e: KeyError, raw: Record<string, unknown>, key: string, required: boolean, example: string): IpNet[] {
  const v = raw[key];
  if (v === undefined || v === null) {
    if (required) e.fail(key, `is required: list the CIDRs to route through the host, e.g. ["${example}"]`);
    return [];
  }
  if (!Array.isArray(v)) e.fail(key, `must be an array of CIDR strings, got ${describeValue(v)}`);
  if (required && v.length === 0) e.fail(key, `must not be empty: list at least one CIDR, e.g. ["${example}"]`);
  const out: IpNet[] = [];
  v.forEach((item, i) => {
    if (typeof item !== 'string') e.fail(`${key}[${i}]`, `must be a CIDR string, got ${describeValue(item)}`);
    try {
      parseCidr(item);
    } catch (err) {
      e.fail(`${key}[${i}]`, (err as Error).message);
    }
    const net = networkOf(item);
    // Routes and rules are keyed by the network; keep one entry per network.
    if (!out.some((n) => formatNet(n) === formatNet(net))) out.push(net);
  });
  return out;
}

function optBool(e: KeyError, obj: Record<string, unknown>, key: string, path: string, dflt: boolean): boolean {
  const v = obj[key];
  if (v === undefined || v === null) return dflt;
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  return e.fail(path, `must be true or false, got ${describeValue(v)}`);
}

function optInt(e: KeyError, obj: Record<string, unknown>, key: string, path: string, dflt: number, min: number, max: number): number {
  const v = obj[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    e.fail(path, `must be an integer from ${min} to ${max}, got ${describeValue(v)}`);
  }
  return v;
}

function optObject(e: KeyError, raw: Record<string, unknown>, key: string): Record<string, unknown> | undefined {
  const v = raw[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) e.fail(key, `must be an object, got ${describeValue(v)}`);
  return v as Record<string, unknown>;
}

function migrateRoute(e: KeyError, raw: Record<string, unknown>): MigrateRoute {
  const v = raw['migrate_route'];
  if (v === undefined || v === null) return -1;
  if (v === -1 || v === 0 || v === 1) return v;
  return e.fail('migrate_route', `must be -1 (auto: by NIC name order), 0 (never) or 1 (always), got ${describeValue(v)}`);
}

function rpFilter(e: KeyError, raw: Record<string, unknown>): RpFilter {
  const o = optObject(e, raw, 'rp_filter');
  if (!o) return { setHost: true, value: 2 };
  const setHost = optBool(e, o, 'set_host', 'rp_filter.set_host', true);
  const v = o['value'];
  let value: 0 | 1 | 2 = 2;
  if (v !== undefined && v !== null) {
    if (v !== 0 && v !== 1 && v !== 2) e.fail('rp_filter.value', `must be 0 (off), 1 (strict) or 2 (loose), got ${describeValue(v)}`);
    value = v;
  }
  return { setHost, value };
}

function logOptions(e: KeyError, raw: Record<string, unknown>, plugin: PluginName): LogOptions {
  const o = optObject(e, raw, 'log_options') ?? {};
  const levelRaw = o['log_level'];
  let level: LogLevel = 'debug';
  if (levelRaw !== undefined && levelRaw !== null) {
    const l = typeof levelRaw === 'string' ? levelRaw.toLowerCase() : levelRaw;
    if (!LOG_LEVELS.includes(l as LogLevel)) e.fail('log_options.log_level', `must be one of ${LOG_LEVELS.join(', ')}, got ${describeValue(levelRaw)}`);
    level = l as LogLevel;
  }
  const fileRaw = o['log_file'];
  let file = `/var/log/meta-plugins/${plugin}.log`;
  if (fileRaw !== undefined && fileRaw !== null) {
    if (typeof fileRaw !== 'string' || !fileRaw.startsWith('/') || fileRaw.endsWith('/')) {
      e.fail('log_options.log_file', `must be an absolute file path, got ${describeValue(fileRaw)}`);
    }
    file = fileRaw;
  }
  return {
    level,
    file,
    maxSizeMb: optInt(e, o, 'log_max_size', 'log_options.log_max_size', 100, 1, 1_000_000),
    maxAgeDays: optInt(e, o, 'log_max_age', 'log_options.log_max_age', 30, 1, 36_500),
    maxCount: optInt(e, o, 'log_max_count', 'log_options.log_max_count', 10, 0, 1000),
  };
}

/** "500ms", "1s", "1.5s", "2m" or a number of milliseconds. */
function durationMs(e: KeyError, v: unknown, path: string, dflt: number): number {
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 60_000) return v;
  if (typeof v === 'string') {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(v);
    if (m) {
      const ms = Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : 60_000);
      if (ms <= 60_000) return Math.round(ms);
    }
  }
  return e.fail(path, `must be a duration up to 1m such as "100ms" or "1s" (or milliseconds), got ${describeValue(v)}`);
}

function ipConflict(e: KeyError, raw: Record<string, unknown>): IpConflict | undefined {
  const o = optObject(e, raw, 'ip_conflict');
  if (!o) return undefined;
  return {
    enabled: optBool(e, o, 'enabled', 'ip_conflict.enabled', false),
    intervalMs: durationMs(e, o['interval'], 'ip_conflict.interval', 100),
    retries: optInt(e, o, 'retries', 'ip_conflict.retries', 3, 1, 100),
  };
}

function macPrefix(e: KeyError, raw: Record<string, unknown>): string | undefined {
  const v = raw['mac_prefix'];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string' || !/^[0-9a-fA-F]{2}:[0-9a-fA-F]{2}$/.test(v)) {
    e.fail('mac_prefix', `must be two hex bytes such as "0a:1b", got ${describeValue(v)}`);
  }
  // A MAC whose first byte has the low bit set is a multicast address: no NIC may use it.
  if (parseInt(v.slice(0, 2), 16) & 1) e.fail('mac_prefix', `${JSON.stringify(v)} would make multicast MACs: the first byte must be even`);
  return v.toLowerCase();
}

/** The keys both plugins share. */
export function parseMetaConf(raw: Record<string, unknown>, plugin: PluginName): MetaConf {
  const e: KeyError = new KeyError(plugin);
  const conf: MetaConf = {
    overlayHijackSubnet: cidrList(e, raw, 'overlay_hijack_subnet', true, '10.244.0.0/16'),
    serviceHijackSubnet: cidrList(e, raw, 'service_hijack_subnet', true, '10.96.0.0/12'),
    additionalHijackSubnet: cidrList(e, raw, 'additional_hijack_subnet', false, '172.16.0.0/16'),
    migrateRoute: migrateRoute(e, raw),
    skipCall: optBool(e, raw, 'skip_call', 'skip_call', false),
    rpFilter: rpFilter(e, raw),
    log: logOptions(e, raw, plugin),
    onlyOpMac: optBool(e, raw, 'only_op_mac', 'only_op_mac', false),
  };
  const mac = macPrefix(e, raw);
  if (mac !== undefined) conf.macPrefix = mac;
  const ic = ipConflict(e, raw);
  if (ic !== undefined) conf.ipConflict = ic;
  if (conf.onlyOpMac && conf.macPrefix === undefined) e.fail('only_op_mac', 'is true but "mac_prefix" is not set: there is no MAC to rewrite');
  return conf;
}

export function parseVethConf(raw: Record<string, unknown>): MetaConf {
  return parseMetaConf(raw, 'veth');
}

export function parseRouterConf(raw: Record<string, unknown>): RouterConf {
  const e: KeyError = new KeyError('router');
  const base = parseMetaConf(raw, 'router');
  const oi = raw['overlay_interface'];
  let overlayInterface = 'eth0';
  if (oi !== undefined && oi !== null) {
    if (typeof oi !== 'string') e.fail('overlay_interface', `must be an interface name, got ${describeValue(oi)}`);
    try {
      kernelIfName(oi);
    } catch (err) {
      e.fail('overlay_interface', (err as Error).message.replace(/^name: /, ''));
    }
    overlayInterface = oi;
  }
  const hostRuleTable = optInt(e, raw, 'host_rule_table', 'host_rule_table', 500, 1, 0xffffffff);
  if (hostRuleTable >= 253 && hostRuleTable <= 255) e.fail('host_rule_table', `${hostRuleTable} is one of the kernel's own tables (253 default, 254 main, 255 local)`);
  return { ...base, overlayInterface, hostRuleTable, sriov: optBool(e, raw, 'sriov', 'sriov', false) };
}

/** All hijack subnets of one family, in config order (overlay, service, additional). */
export function hijackSubnets(conf: MetaConf, family: 4 | 6): IpNet[] {
  return [...conf.overlayHijackSubnet, ...conf.serviceHijackSubnet, ...conf.additionalHijackSubnet].filter((n) => n.family === family);
}

// The config keys of kmesh-cni, parsed once into typed values. Errors are CniError 7 naming the key.
// Unknown keys are ignored: runtimes and the installer add their own.
import { CniError, ErrorCode, describeValue } from '../../cni';
import type { LogLevel, LogOptions } from '../../chained/config';

export interface KmeshConf {
  /** Absolute path of the kubeconfig the installer wrote. */
  kubeConfig: string;
  /** Mount point of the cgroup v1 net_cls hierarchy. */
  netClsRoot: string;
  /** Timeout of one Kubernetes API request. */
  kubeTimeoutMs: number;
  /** The iptables binary run inside the pod netns (iptables, iptables-nft, iptables-legacy). */
  iptables: string;
  log: LogOptions;
}

export const DEFAULT_KUBECONFIG = '/etc/cni/net.d/kmesh-cni-kubeconfig';
export const DEFAULT_NET_CLS_ROOT = '/sys/fs/cgroup/net_cls';
export const DEFAULT_LOG_FILE = '/var/log/kmesh-cni/kmesh-cni.log';
const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

function fail(key: string, problem: string): never {
  throw new CniError(ErrorCode.InvalidNetworkConfig, 'invalid kmesh-cni config', `${JSON.stringify(key)}: ${problem}`);
}

function absPath(raw: Record<string, unknown>, key: string, dflt: string): string {
  const v = raw[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'string' || !v.startsWith('/')) fail(key, `must be an absolute path, got ${describeValue(v)}`);
  return v;
}

function int(raw: Record<string, unknown>, key: string, dflt: number, min: number, max: number): number {
  const v = raw[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(key, `must be an integer from ${min} to ${max}, got ${describeValue(v)}`);
  return v;
}

export function parseKmeshConf(raw: Record<string, unknown>): KmeshConf {
  const level = raw['logLevel'] ?? 'info';
  if (typeof level !== 'string' || !LEVELS.includes(level as LogLevel)) fail('logLevel', `must be one of ${LEVELS.join(', ')}, got ${describeValue(level)}`);
  const ipt = raw['iptables'] ?? 'iptables';
  if (typeof ipt !== 'string' || ipt === '' || /\s/.test(ipt)) fail('iptables', `must be an iptables binary name or path, got ${describeValue(ipt)}`);
  return {
    kubeConfig: absPath(raw, 'kubeConfig', DEFAULT_KUBECONFIG),
    netClsRoot: absPath(raw, 'netClsRoot', DEFAULT_NET_CLS_ROOT),
    kubeTimeoutMs: int(raw, 'kubeTimeoutMs', 5000, 100, 120_000),
    iptables: ipt,
    log: { level: level as LogLevel, file: absPath(raw, 'logFile', DEFAULT_LOG_FILE), maxSizeMb: 10, maxAgeDays: 30, maxCount: 3 },
  };
}

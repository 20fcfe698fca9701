/**
 * /proc/sys reads and writes, synchronous so they run on the calling thread and act on its netns:
 * call inside withNetns(ns, ...) to touch another netns. (fs.promises would run on a libuv pool
 * thread, which stays in the netns it started in.)
 */
import * as fs from 'node:fs';
import { fromNodeError } from './errors';

/** 'net.ipv4.ip_forward' → /proc/sys/net/ipv4/ip_forward; a key with '/' is used as is (dotted ifnames). */
export function sysctlPath(key: string): string {
  if (typeof key !== 'string' || key.length === 0) throw new Error('key: sysctl key must be a non-empty string');
  const rel = key.includes('/') ? key.replace(/^\/+/, '') : key.replace(/\./g, '/');
  if (rel.split('/').some((p) => p === '' || p === '.' || p === '..') || rel.includes('\0')) {
    throw new Error(`key: invalid sysctl key ${JSON.stringify(key)}`);
  }
  return `/proc/sys/${rel}`;
}

export function readSysctl(key: string): string {
  const path = sysctlPath(key);
  try {
    return fs.readFileSync(path, 'utf8').replace(/\n$/, '');
  } catch (err) {
    throw fromNodeError(`reading sysctl ${key} (${path})`, err);
  }
}

export function writeSysctl(key: string, value: string | number): void {
  const path = sysctlPath(key);
  const v = String(value);
  if (typeof value === 'number' && !Number.isFinite(value)) throw new Error(`value: invalid sysctl value ${v}`);
  try {
    fs.writeFileSync(path, v);
  } catch (err) {
    throw fromNodeError(`writing sysctl ${key}=${v} (${path})`, err);
  }
}

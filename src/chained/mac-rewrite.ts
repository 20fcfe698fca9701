// mac_prefix: rewrite the pod NIC's MAC from its IPv4 address (see mac.ts), reported in the result.
import type { CniResult } from '../cni';
import type { Pod } from './pod';
import type { Logger } from './log';
import { macFromPrefix } from './mac';
import type { NicIp } from './nic-ips';
import type { Undo } from './undo';

export function rewriteMac(pod: Pod, ifname: string, ips: readonly NicIp[], prefix: string, netns: string,
  result: CniResult, undo: Undo, log: Logger): CniResult {
  const v4 = ips.find((x) => x.family === 4);
  if (!v4) {
    log.warn(`mac_prefix is set but ${ifname} has no IPv4 address: MAC left unchanged`);
    return result;
  }
  const mac = macFromPrefix(prefix, v4.ip);
  const link = pod.rt.link(ifname);
  if (!link) throw new Error(`${ifname} does not exist in the pod`);
  if (link.mac !== mac) {
    pod.rt.setMac(ifname, mac);
    undo.push(`restore MAC ${link.mac} on ${ifname}`, () => pod.rt.setMac(ifname, link.mac));
    log.info(`MAC of ${ifname} set to ${mac}`);
  }
  return {
    ...result,
    interfaces: result.interfaces.map((i) => (i.name === ifname && (i.sandbox === netns || i.sandbox !== undefined) ? { ...i, mac } : i)),
  };
}

/** CHECK: what is wrong with the NIC's MAC under mac_prefix, or undefined when it is right. */
export function macProblem(pod: Pod, ifname: string, ips: NicIp[], macPrefix: string): string | undefined {
  const v4 = ips.find((x) => x.family === 4);
  const mac = v4 ? macFromPrefix(macPrefix, v4.ip) : undefined;
  const have = pod.rt.link(ifname)?.mac;
  return mac !== undefined && have !== mac ? `${ifname} has MAC ${have ?? '(no such link)'}, mac_prefix wants ${mac}` : undefined;
}

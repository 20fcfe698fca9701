// Conversion between the wire formats of CNI results (0.1.0 ... 1.1.0) and the normalized
// CniResult. Parsing accepts every supported version; formatting writes exactly one version.
import { describeValue, ErrorCode } from './errors';
import { Decoder } from './decode';
import { ipFamily, parseCidr } from './ip';
import type { CniDNS, CniInterface, CniIPConfig, CniResult, CniRoute } from './types';
import { type CniVersion, isLegacyVersion, isSupportedVersion, SUPPORTED_VERSIONS, versionAtLeast } from './versions';

export function emptyResult(version: CniVersion): CniResult {
  return { cniVersion: version, interfaces: [], ips: [], routes: [], dns: {} };
}

/**
 * Validates a result of any supported version and returns it in the normalized shape.
 *
 * `where` is the path of the result in its container and prefixes every error ("prevResult",
 * "bridge result"). A result without `cniVersion` (prevResult as some runtimes inject it) takes
 * `defaultVersion`. Errors are CniError DecodeFailure (6) whose details name the field path.
 * Unknown fields are ignored so newer-minor results still parse.
 */
export function parseResult(json: unknown, where: string, defaultVersion?: CniVersion): CniResult {
  const d: Decoder = new Decoder(ErrorCode.DecodeFailure, `invalid ${where}`);
  const obj = d.object(json, where);

  const rawVersion = obj['cniVersion'];
  let cniVersion: CniVersion;
  if (rawVersion === undefined && defaultVersion !== undefined) {
    cniVersion = defaultVersion;
  } else if (isSupportedVersion(rawVersion)) {
    cniVersion = rawVersion;
  } else {
    d.fail(
      `${where}.cniVersion`,
      `${describeValue(rawVersion)} is not a supported version (supported: ${SUPPORTED_VERSIONS.join(', ')})`,
    );
  }

  if (isLegacyVersion(cniVersion)) return parseLegacy(d, obj, where, cniVersion);

  const interfaces = (d.optArray(obj, 'interfaces', where) ?? []).map((v, i) =>
    parseInterface(d, v, `${where}.interfaces[${i}]`),
  );
  const ips = (d.optArray(obj, 'ips', where) ?? []).map((v, i) =>
    parseIP(d, v, `${where}.ips[${i}]`, interfaces.length),
  );
  const routes = (d.optArray(obj, 'routes', where) ?? []).map((v, i) => parseRoute(d, v, `${where}.routes[${i}]`));
  const dnsRaw = obj['dns'];
  const dns = dnsRaw === undefined || dnsRaw === null ? {} : parseDNS(d, dnsRaw, `${where}.dns`);

  return { cniVersion, interfaces, ips, routes, dns };
}

/**
 * A 0.1.0/0.2.0 result: `ip4` and `ip6` objects, each `{ip, gateway?, routes?}`, and `dns`. As the
 * reference library's conversion does, the addresses become ips without an interface and the
 * routes of both families one list.
 */
function parseLegacy(d: Decoder, obj: Record<string, unknown>, where: string, cniVersion: CniVersion): CniResult {
  const ips: CniIPConfig[] = [];
  const routes: CniRoute[] = [];
  for (const [key, family] of [['ip4', 4], ['ip6', 6]] as const) {
    const raw = obj[key];
    if (raw === undefined || raw === null) continue;
    const path = `${where}.${key}`;
    const o = d.object(raw, path);
    const ip = d.string(o, 'ip', path);
    let got: 4 | 6;
    try {
      got = parseCidr(ip).family;
    } catch (e) {
      d.fail(`${path}.ip`, (e as Error).message);
    }
    if (got !== family) d.fail(`${path}.ip`, `${JSON.stringify(ip)} is not an IPv${family} address`);
    const out: CniIPConfig = { address: ip };
    const gateway = d.optString(o, 'gateway', path);
    if (gateway !== undefined) {
      if (ipFamily(gateway) !== family) d.fail(`${path}.gateway`, `${JSON.stringify(gateway)} is not an IPv${family} address`);
      out.gateway = gateway;
    }
    ips.push(out);
    routes.push(...(d.optArray(o, 'routes', path) ?? []).map((v, i) => parseRoute(d, v, `${path}.routes[${i}]`)));
  }
  const dnsRaw = obj['dns'];
  const dns = dnsRaw === undefined || dnsRaw === null ? {} : parseDNS(d, dnsRaw, `${where}.dns`);
  return { cniVersion, interfaces: [], ips, routes, dns };
}

/**
 * The 0.1.0/0.2.0 wire form: the first IPv4 and the first IPv6 address (there is room for one
 * of each), each with the routes of its family; interfaces are not part of it. This is what the
 * reference library's conversion to types/020 writes.
 */
function formatLegacy(r: CniResult, version: CniVersion): Record<string, unknown> {
  const out: Record<string, unknown> = { cniVersion: version };
  for (const [key, family] of [['ip4', 4], ['ip6', 6]] as const) {
    const ip = r.ips.find((x) => parseCidr(x.address).family === family);
    if (!ip) continue;
    const o: Record<string, unknown> = { ip: ip.address };
    if (ip.gateway !== undefined) o['gateway'] = ip.gateway;
    const rs = r.routes.filter((rt) => parseCidr(rt.dst).family === family).map((rt) => (rt.gw !== undefined ? { dst: rt.dst, gw: rt.gw } : { dst: rt.dst }));
    if (rs.length) o['routes'] = rs;
    out[key] = o;
  }
  out['dns'] = formatDns(r.dns);
  return out;
}

function formatDns(dnsIn: CniDNS): Record<string, unknown> {
  const dns: Record<string, unknown> = {};
  if (dnsIn.nameservers !== undefined) dns['nameservers'] = [...dnsIn.nameservers];
  if (dnsIn.domain !== undefined) dns['domain'] = dnsIn.domain;
  if (dnsIn.search !== undefined) dns['search'] = [...dnsIn.search];
  if (dnsIn.options !== undefined) dns['options'] = [...dnsIn.options];
  return dns;
}

function parseInterface(d: Decoder, v: unknown, path: string): CniInterface {
  const o = d.object(v, path);
  const out: CniInterface = { name: d.string(o, 'name', path) };
  const mac = d.optString(o, 'mac', path);
  if (mac !== undefined) out.mac = mac;
  const mtu = d.optUint(o, 'mtu', path);
  if (mtu !== undefined) out.mtu = mtu;
  const sandbox = d.optString(o, 'sandbox', path);
  if (sandbox !== undefined) out.sandbox = sandbox;
  const socketPath = d.optString(o, 'socketPath', path);
  if (socketPath !== undefined) out.socketPath = socketPath;
  const pciID = d.optString(o, 'pciID', path);
  if (pciID !== undefined) out.pciID = pciID;
  return out;
}

function parseIP(d: Decoder, v: unknown, path: string, interfaceCount: number): CniIPConfig {
  const o = d.object(v, path);
  const address = d.string(o, 'address', path);
  let family: 4 | 6;
  try {
    family = parseCidr(address).family;
  } catch (e) {
    d.fail(`${path}.address`, (e as Error).message);
  }
  const out: CniIPConfig = { address };

  const gateway = d.optString(o, 'gateway', path);
  if (gateway !== undefined) {
    const gwFamily = ipFamily(gateway);
    if (gwFamily === undefined) d.fail(`${path}.gateway`, `${JSON.stringify(gateway)} is not an IP address`);
    if (gwFamily !== family) {
      d.fail(`${path}.gateway`, `IPv${gwFamily} gateway ${gateway} does not match IPv${family} address ${address}`);
    }
    out.gateway = gateway;
  }

  const iface = d.optUint(o, 'interface', path);
  if (iface !== undefined) {
    // An index past the list would make consumers attach the address to nothing (or crash).
    if (iface >= interfaceCount) {
      d.fail(`${path}.interface`, `index ${iface} is out of range: the result has ${interfaceCount} interface(s)`);
    }
    out.interface = iface;
  }

  // 0.3.x/0.4.0 results carry "version": "4"|"6". It is redundant with the address, so we do
  // not store it, but a value that contradicts the address means the producer is confused.
  const ver = o['version'];
  if (ver !== undefined && ver !== null) {
    if (ver !== '4' && ver !== '6') d.fail(`${path}.version`, `must be "4" or "6", got ${describeValue(ver)}`);
    if (ver !== String(family)) d.fail(`${path}.version`, `"${ver}" does not match IPv${family} address ${address}`);
  }
  return out;
}

function parseRoute(d: Decoder, v: unknown, path: string): CniRoute {
  const o = d.object(v, path);
  const dst = d.string(o, 'dst', path);
  try {
    parseCidr(dst);
  } catch (e) {
    d.fail(`${path}.dst`, (e as Error).message);
  }
  const out: CniRoute = { dst };
  const gw = d.optString(o, 'gw', path);
  if (gw !== undefined) {
    if (!ipFamily(gw)) d.fail(`${path}.gw`, `${JSON.stringify(gw)} is not an IP address`);
    out.gw = gw;
  }
  for (const key of ['mtu', 'advmss', 'priority', 'table', 'scope'] as const) {
    const n = d.optUint(o, key, path);
    if (n !== undefined) out[key] = n;
  }
  return out;
}

function parseDNS(d: Decoder, v: unknown, path: string): CniDNS {
  const o = d.object(v, path);
  const out: CniDNS = {};
  const nameservers = d.optStringArray(o, 'nameservers', path);
  if (nameservers !== undefined) out.nameservers = nameservers;
  const domain = d.optString(o, 'domain', path);
  if (domain !== undefined) out.domain = domain;
  const search = d.optStringArray(o, 'search', path);
  if (search !== undefined) out.search = search;
  const options = d.optStringArray(o, 'options', path);
  if (options !== undefined) out.options = options;
  return out;
}

/**
 * The wire form of `r` for `version`. Before 1.0.0 every ips[] entry gets "version": "4"|"6";
 * before 1.1.0 the 1.1.0-only fields (interface mtu/socketPath/pciID, route
 * mtu/advmss/priority/table/scope) are dropped because older consumers reject or misread them.
 * Empty lists are omitted and `dns` is always present, matching the reference Go encoder.
 */
export function formatResult(r: CniResult, version: CniVersion): Record<string, unknown> {
  if (isLegacyVersion(version)) return formatLegacy(r, version);
  const v11 = versionAtLeast(version, '1.1.0');
  const v10 = versionAtLeast(version, '1.0.0');
  const out: Record<string, unknown> = { cniVersion: version };

  if (r.interfaces.length > 0) {
    out['interfaces'] = r.interfaces.map((i) => {
      const o: Record<string, unknown> = { name: i.name };
      if (i.mac !== undefined) o['mac'] = i.mac;
      if (v11 && i.mtu !== undefined) o['mtu'] = i.mtu;
      if (i.sandbox !== undefined) o['sandbox'] = i.sandbox;
      if (v11 && i.socketPath !== undefined) o['socketPath'] = i.socketPath;
      if (v11 && i.pciID !== undefined) o['pciID'] = i.pciID;
      return o;
    });
  }
  if (r.ips.length > 0) {
    out['ips'] = r.ips.map((ip) => {
      const o: Record<string, unknown> = {};
      if (!v10) o['version'] = String(parseCidr(ip.address).family);
      if (ip.interface !== undefined) o['interface'] = ip.interface;
      o['address'] = ip.address;
      if (ip.gateway !== undefined) o['gateway'] = ip.gateway;
      return o;
    });
  }
  if (r.routes.length > 0) {
    out['routes'] = r.routes.map((rt) => {
      const o: Record<string, unknown> = { dst: rt.dst };
      if (rt.gw !== undefined) o['gw'] = rt.gw;
      if (v11) {
        for (const key of ['mtu', 'advmss', 'priority', 'table', 'scope'] as const) {
          if (rt[key] !== undefined) o[key] = rt[key];
        }
      }
      return o;
    });
  }
  out['dns'] = formatDns(r.dns);
  return out;
}

// Property tests for every parser at a boundary (issue 8): CNI config, CNI_ARGS, the meshnet
// plugin's keys, Topology objects, lab files and grpc-wire Packets. Thousands of random and
// mutated inputs (seeded: a failure names its seed and input); the property is the same for all:
// a parser returns a value or throws its boundary's own error (with a code and a message), never
// a TypeError, RangeError or anything else that would surface as a crash or an unclear message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stringify as toYaml } from 'yaml';
import { CniError, formatCniArgs, parseCniArgs, parseConfList, parseNetConf } from '../../src/cni';
import { parseMeshnetConf } from '../../src/plugins/meshnet/config';
import { TopologyError } from '../../src/topology/errors';
import { parseTopology } from '../../src/topology/validate';
import { LabFileError, parseLabFile } from '../../src/lab/labfile';
import { PacketParseError, decodePacket, packetPrefix } from '../../src/grpc/packet-codec';

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
  return { int: (n: number) => next() % n, pick: <T>(xs: readonly T[]): T => xs[next() % xs.length]! };
}
type Rng = ReturnType<typeof rng>;

const STRINGS = ['', ' ', 'a', 'eth1', 'default', '10.0.0.1/24', '::1', '1.0.0', '0.3.0', 'meshnet', '/var/run/netns/x', 'x'.repeat(300), 'é', '\u0000', '{"', 'null', '-1', '1e309'];
/** Any JSON value, nested up to `depth`. */
function anyValue(r: Rng, depth = 3): unknown {
  switch (r.int(depth > 0 ? 9 : 6)) {
    case 0: return null;
    case 1: return r.int(2) === 0;
    case 2: return r.pick([0, -1, 1, 2 ** 31, 2 ** 53 + 1, 1.5, -0, 65536, 4096]);
    case 3: case 4: return r.pick(STRINGS);
    case 5: return r.int(1000);
    case 6: case 7: return Object.fromEntries(Array.from({ length: r.int(4) }, () => [r.pick(['uid', 'name', 'type', 'links', 'spec', 'metadata', 'k', '']), anyValue(r, depth - 1)]));
    default: return Array.from({ length: r.int(4) }, () => anyValue(r, depth - 1));
  }
}

/** `v` with one random change deep inside: a key dropped, a value replaced by any other value. */
function mutate(r: Rng, v: unknown): unknown {
  if (Array.isArray(v)) {
    if (v.length === 0 || r.int(4) === 0) return anyValue(r);
    const i = r.int(v.length);
    return v.map((x, j) => (j === i ? mutate(r, x) : x));
  }
  if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v);
    if (keys.length === 0 || r.int(5) === 0) return anyValue(r);
    const k = r.pick(keys);
    const copy: Record<string, unknown> = { ...(v as Record<string, unknown>) };
    if (r.int(4) === 0) delete copy[k];
    else copy[k] = mutate(r, copy[k]);
    return copy;
  }
  return anyValue(r);
}

/**
 * Runs `parse` on `n` inputs from `gen`; any throw that is not an `expected` error fails, naming
 * seed and input. So that a parser refusing everything (or accepting everything) cannot pass,
 * `valid` must parse, some generated input must be refused, and, unless every generated input is
 * broken by construction (`allBroken`), some must be accepted.
 */
function property(n: number, gen: (r: Rng) => unknown, parse: (input: never) => unknown, expected: (e: unknown) => boolean,
  valid: unknown, opts: { allBroken?: boolean } = {}): void {
  assert.doesNotThrow(() => parse(valid as never), 'the valid example is refused');
  let accepted = 0;
  let refused = 0;
  for (let seed = 1; seed <= n; seed++) {
    const input = gen(rng(seed));
    try {
      parse(input as never);
      accepted++;
    } catch (e) {
      assert.ok(expected(e), `seed ${seed}: ${JSON.stringify(input)?.slice(0, 300)} threw ${e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e)}`);
      assert.ok((e as Error).message.length > 0, `seed ${seed}: an error without a message`);
      refused++;
    }
  }
  assert.ok(refused > 0, `none of ${n} generated inputs was refused`);
  if (!opts.allBroken) assert.ok(accepted > 0, `none of ${n} generated inputs was accepted`);
}

const isCniError = (e: unknown) => e instanceof CniError && typeof e.code === 'number';

const NET_CONF = {
  cniVersion: '1.0.0', name: 'n', type: 'meshnet', store: '/var/lib/meshnet/store', disable_tx_offloads: true,
  prevResult: { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', sandbox: '/var/run/netns/x' }], ips: [{ address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 0 }], routes: [{ dst: '0.0.0.0/0' }] },
};

test('CNI network configuration: any mutation of a valid one, and any JSON, is parsed or refused with a CNI error', () => {
  property(3000, (r) => JSON.stringify(r.int(3) === 0 ? anyValue(r) : mutate(r, mutate(r, NET_CONF))), parseNetConf, isCniError, JSON.stringify(NET_CONF));
  property(500, (r) => JSON.stringify(NET_CONF).slice(0, r.int(200)), parseNetConf, isCniError, JSON.stringify(NET_CONF), { allBroken: true }); // cut short
});

test('CNI configuration lists: parsed or refused with a CNI error', () => {
  const list = { cniVersion: '1.0.0', name: 'n', plugins: [{ type: 'bridge' }, { type: 'meshnet', name: 'meshnet' }] };
  property(2000, (r) => (r.int(3) === 0 ? anyValue(r) : mutate(r, mutate(r, list))), parseConfList, isCniError, list);
});

test('the meshnet plugin\'s own keys: parsed or refused with a CNI error', () => {
  property(2000, (r) => mutate(r, { store: 'etcd://127.0.0.1:2379', disable_tx_offloads: false, vni_scheme: 'kne', node_ip: '10.0.0.1' }) as Record<string, unknown>,
    (raw: Record<string, unknown>) => parseMeshnetConf(raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? raw : { store: raw }), isCniError,
    { store: 'etcd://127.0.0.1:2379', disable_tx_offloads: false, vni_scheme: 'kne', node_ip: '10.0.0.1' });
});

test('CNI_ARGS: any string is parsed or refused with a CNI error; every well-formed record round-trips', () => {
  const ALPHABET = ['K8S_POD_NAME', 'K8S_POD_NAMESPACE', 'IgnoreUnknown', 'x', '=', ';', '1', 'true', 'é', ' ', ''];
  property(3000, (r) => Array.from({ length: r.int(8) }, () => r.pick(ALPHABET)).join(''), (s: string) => parseCniArgs(s), isCniError, 'IgnoreUnknown=true;K8S_POD_NAME=r1');
  for (let seed = 1; seed <= 500; seed++) {
    const r = rng(seed);
    const rec = { K8S_POD_NAMESPACE: r.pick(['default', 'ns-1', 'a=b']), K8S_POD_NAME: r.pick(['r1', 'pod-2', 'x=y=z']), K8S_POD_INFRA_CONTAINER_ID: r.pick(['c0ffee', '']) };
    const back = parseCniArgs(formatCniArgs(rec));
    assert.deepEqual([back.K8S_POD_NAMESPACE, back.K8S_POD_NAME, back.K8S_POD_INFRA_CONTAINER_ID], [rec.K8S_POD_NAMESPACE, rec.K8S_POD_NAME, rec.K8S_POD_INFRA_CONTAINER_ID], `seed ${seed}`);
  }
});

const TOPOLOGY = {
  apiVersion: 'networkop.co.uk/v1beta1', kind: 'Topology', metadata: { name: 'r1', namespace: 'default' },
  spec: { links: [{ uid: 1, peer_pod: 'r2', local_intf: 'eth1', peer_intf: 'eth1', local_ip: '10.0.0.1/24', peer_ip: '10.0.0.2/24' }, { uid: 2, peer_pod: 'localhost', local_intf: 'eth2', peer_intf: 'ens4' }] },
  status: { src_ip: '192.0.2.1', net_ns: '/var/run/netns/r1', skipped: [{ pod_name: 'r2', link_id: 1 }] },
};

test('Topology objects (as stored or sent by KNE): parsed or refused with a TopologyError naming the field', () => {
  property(4000, (r) => (r.int(4) === 0 ? anyValue(r) : mutate(r, mutate(r, mutate(r, TOPOLOGY)))), (v: unknown) => parseTopology(v),
    (e) => e instanceof TopologyError && /Topology|metadata|spec|status|link|uid/.test((e as Error).message), TOPOLOGY);
});

const LAB = {
  name: 'lab', inter_node_link_type: 'grpc', nodes: ['n1', { name: 'n2' }], pods: [{ name: 'r1', node: 'n1' }, { name: 'r2', node: 'n2', namespace: 'default' }],
  topologies: [
    { metadata: { name: 'r1' }, spec: { links: [{ uid: 1, peer_pod: 'r2', local_intf: 'eth1', peer_intf: 'eth1' }] } },
    { metadata: { name: 'r2' }, spec: { links: [{ uid: 1, peer_pod: 'r1', local_intf: 'eth1', peer_intf: 'eth1' }] } },
  ],
};

test('lab files: any mutation (and YAML that is not a lab at all) is parsed or refused with a LabFileError naming the field', () => {
  property(2000, (r) => toYaml(r.int(4) === 0 ? anyValue(r) : mutate(r, mutate(r, LAB))), (text: string) => parseLabFile(text),
    (e) => e instanceof LabFileError && typeof e.field === 'string' && e.field.length > 0, toYaml(LAB));
  property(300, (r) => toYaml(LAB).slice(0, r.int(400)) + r.pick(['', ':', ' - [', '\t', '{', '"']), (text: string) => parseLabFile(text),
    (e) => e instanceof LabFileError, toYaml(LAB), { allBroken: true });
});

test('grpc-wire Packets from peers: any bytes decode or are refused with PacketParseError; valid ones round-trip', () => {
  property(5000, (r) => Buffer.from(Array.from({ length: r.int(64) }, () => r.int(256))), (b: Buffer) => decodePacket(b), (e) => e instanceof PacketParseError,
    Buffer.concat([packetPrefix(7n, 3), Buffer.from([1, 2, 3])]).subarray(5));
  for (let seed = 1; seed <= 500; seed++) {
    const r = rng(seed);
    const frame = Buffer.from(Array.from({ length: r.int(3000) }, () => r.int(256)));
    const id = BigInt(r.int(2 ** 31)) * BigInt(1 + r.int(2 ** 20));
    const p = decodePacket(Buffer.concat([packetPrefix(id, frame.length), frame]).subarray(5));
    assert.equal(p.remotIntfId, id, `seed ${seed}`);
    assert.deepEqual(Buffer.from(p.frame), frame, `seed ${seed}`);
  }
});

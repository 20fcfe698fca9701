// containerlab topology files (issue 18): what runs unchanged, and what is refused naming the
// field and its line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabFileError, parseLabFile } from '../../src/lab/labfile';

const dir = mkdtempSync(join(tmpdir(), 'clab-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'r1.conf'), 'hostname r1\n');

const CLAB = `name: srl01
mgmt:
  network: clab
topology:
  kinds:
    linux:
      image: localhost/frr:9
  nodes:
    r1:
      kind: linux
      cmd: sleep "1 2"
      entrypoint: /bin/sh -c 'exec "$@"' --
      binds: [r1.conf:/etc/frr/frr.conf:ro]
      env: {A: b}
      exec: [ip link]
      memory: 512Mb
      cpu: 1.5
    r2:
      labels: {meshnet-lab/node: n2, team: a}
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
    - type: veth
      mtu: 9000
      endpoints:
        - {node: r1, interface: eth2}
        - {node: r2, interface: eth2}
`;
const parse = (text: string, opts = {}) => parseLabFile(text, 'topo.clab.yml', { baseDir: dir, ...opts });

test('linux nodes become container pods (kinds.linux inherited), links become both pods\' Topologies; a label places a node', () => {
  const spec = parse(CLAB);
  assert.equal(spec.name, 'srl01');
  assert.equal(spec.runtime, 'containerd');
  assert.deepEqual(spec.nodes.map((n) => n.name), ['n1', 'n2']);
  assert.deepEqual(spec.pods.map((p) => [p.name, p.node, p.container?.image]), [['r1', 'n1', 'localhost/frr:9'], ['r2', 'n2', 'localhost/frr:9']]);
  assert.deepEqual(spec.pods[0]!.container, {
    image: 'localhost/frr:9', command: ['/bin/sh', '-c', 'exec "$@"', '--'], args: ['sleep', '1 2'], env: { A: 'b' },
    binds: [{ host: join(dir, 'r1.conf'), container: '/etc/frr/frr.conf', readOnly: true }], exec: ['ip link'], cpu: 1.5, memory: 512 * 1024 ** 2,
  });
  assert.deepEqual(spec.topologies.map((t) => [t.metadata.name, t.spec.links.map((l) => [l.uid, l.local_intf, l.peer_pod, l.peer_intf, l.mtu])]), [
    ['r1', [[1, 'eth1', 'r2', 'eth1', undefined], [2, 'eth2', 'r2', 'eth2', 9000]]],
    ['r2', [[1, 'eth1', 'r1', 'eth1', undefined], [2, 'eth2', 'r1', 'eth2', 9000]]],
  ]);
});

test('--nodes spreads unplaced nodes round-robin; --name renames the lab', () => {
  const spec = parse(CLAB.replace('      labels: {meshnet-lab/node: n2, team: a}\n', ''), { nodes: 2, name: 'other' });
  assert.equal(spec.name, 'other');
  assert.deepEqual(spec.pods.map((p) => p.node), ['n1', 'n2']);
});

function refused(text: string, field: string, why: RegExp): void {
  assert.throws(() => parse(text), (e: unknown) => {
    assert.ok(e instanceof LabFileError, String(e));
    assert.equal(e.field, field);
    assert.match(e.message, why);
    return true;
  });
}

test('what the lab cannot do is refused naming the field and its line, never ignored', () => {
  refused(CLAB.replace('      kind: linux\n      cmd', '      kind: nokia_srlinux\n      cmd'), 'topology.nodes.r1.kind (line 10)', /kind "nokia_srlinux" is not supported/);
  refused(CLAB.replace('    r2:\n', '    r2:\n      ports: [80:8080]\n'), 'topology.nodes.r2.ports (line 19)', /not a node field the lab supports/);
  refused(CLAB.replace('  network: clab\n', '  network: clab\n  ipv4-subnet: 172.20.20.0/24\n'), 'mgmt.ipv4-subnet (line 4)', /eth0 comes from its lab node's primary CNI/);
  refused(CLAB.replace('"r2:eth1"]', '"host:veth0"]'), 'topology.links.0.endpoints.1 (line 21)', /a link to "host" is not supported/);
  refused(CLAB.replace('"r2:eth1"]', '"r9:eth1"]'), 'topology.links.0.endpoints.1 (line 21)', /no node "r9"/);
  refused(CLAB.replace('    - type: veth\n', '    - type: macvlan\n'), 'topology.links.1.type (line 22)', /"macvlan" is not supported/);
  refused(CLAB.replace('r1.conf:/etc', 'missing.conf:/etc'), 'topology.nodes.r1.binds.0 (line 13)', /missing\.conf does not exist/);
  refused(CLAB.replace("entrypoint: /bin/sh -c 'exec", "entrypoint: /bin/sh -c 'exec'\""), 'topology.nodes.r1.entrypoint (line 12)', /unterminated " quote/);
});

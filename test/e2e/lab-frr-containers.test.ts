// Router images in the lab (issue 18): examples/frr-containers.yaml, an FRR triangle whose routers
// are containers of an FRR image (Debian's frr, made with mmdebstrap and imported as a root
// filesystem with `lab image import --name`, as the example says), each with its config bound in,
// OSPF over a veth (same node) and, between the nodes, VXLAN or grpc-wire. OSPF converges; pulling one cable drops exactly that adjacency
// and traffic goes round the other way; plugging it back brings it Full again.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { frrRootfs } from '../helpers/images';
import { until } from '../helpers/wait';

const dir = mkdtempSync(join(tmpdir(), 'frr-containers-'));
const env = { ...process.env, MESHNET_LAB_IMAGES: join(dir, 'images') };
const ctl = (...args: string[]) => spawnSync(process.execPath, [resolve('dist/meshnetctl'), ...args], { encoding: 'utf8', env, maxBuffer: 16 << 20 });

after(() => rmSync(dir, { recursive: true, force: true }));

before(() => {
  const r = ctl('lab', 'image', 'import', frrRootfs(), '--name', 'localhost/frr:9');
  assert.equal(r.status, 0, r.stderr);
});

/**
 * examples/frr-containers.yaml as a user runs it (r1 and r3 on n1 with a veth between them, r2 on
 * n2), under this run's name, its cross-node links VXLAN or grpc-wire; its configs where they are.
 */
function triangle(name: string, linkType: 'vxlan' | 'grpc'): string {
  const example = readFileSync('examples/frr-containers.yaml', 'utf8');
  const path = join(dir, `${name}.yaml`);
  writeFileSync(path, example.replace(/^name: frr-containers$/m, `name: ${name}\ninter_node_link_type: ${linkType}`)
    .replaceAll('"frr-containers/', `"${resolve('examples/frr-containers')}/`));
  return path;
}

for (const linkType of ['vxlan', 'grpc'] as const) {
  describe(`an FRR triangle of containers, veth and ${linkType === 'grpc' ? 'grpc-wire' : 'VXLAN'} links`, () => {
    const name = `fc${linkType[0]}${process.pid % 1000}${randomBytes(2).toString('hex')}`;
    /** r1's OSPF neighbours in state Full, by router id. */
    const full = () => [...ctl('lab', 'exec', name, 'r1', '--', 'vtysh', '-c', 'show ip ospf neighbor').stdout.matchAll(/^(\d+\.\d+\.\d+\.\d+)\s+\d+\s+Full/gm)].map((m) => m[1]).sort();
    /** The interface r1's route to r2's loopback leaves by. */
    const via = () => /dev (\S+)/.exec(ctl('lab', 'exec', name, 'r1', '--', 'ip', 'route', 'get', '10.255.0.2').stdout)?.[1];
    /** Whether r1, from its loopback, gets an answer from `ip`. */
    const pings = (ip: string) => ctl('lab', 'exec', name, 'r1', '--', 'ping', '-c', '1', '-W', '1', '-I', '10.255.0.1', ip).status === 0;
    const why = () => `r1's neighbours: ${ctl('lab', 'exec', name, 'r1', '--', 'vtysh', '-c', 'show ip ospf neighbor').stdout}`;
    before(async () => {
      const up = ctl('lab', 'up', triangle(name, linkType));
      assert.equal(up.status, 0, `${up.stdout}\n${up.stderr}`);
      await until('r1 Full with r2 and r3', () => full().length === 2, 60_000, why);
    });
    after(() => {
      ctl('lab', 'down', name);
    });

    test('OSPF converges in the containers: r1 is Full with both neighbours and reaches r2\'s loopback over the direct link', async () => {
      assert.deepEqual(full(), ['2.2.2.2', '3.3.3.3']);
      await until('a route to r2\'s loopback via eth1', () => via() === 'eth1', 30_000, why);
      await until('r1 reaching r2\'s loopback', () => pings('10.255.0.2'), 15_000, why);
    });

    test('pulling the r1-r2 cable drops exactly that adjacency; r2 is reached through r3; plugging it back brings it Full', async () => {
      assert.equal(ctl('lab', 'link', 'down', name, 'r1:eth1').status, 0);
      await until('r1 without r2 as a neighbour', () => full().join() === '3.3.3.3', 15_000, why);
      await until('a route to r2\'s loopback via eth2 (r3)', () => via() === 'eth2', 15_000, why);
      // r2 and r3 converge too (SPF runs on each after its own hold time): r2 answers the long way.
      await until('r1 reaching r2\'s loopback through r3', () => pings('10.255.0.2'), 15_000, why);
      assert.equal(ctl('lab', 'link', 'up', name, 'r1:eth1').status, 0);
      await until('r1 Full with r2 again', () => full().length === 2, 30_000, why);
    });
  });
}

describe('examples/frr.clab.yml: a containerlab file, unchanged, with r2 placed on a second node', () => {
  const name = `fk${process.pid % 1000}${randomBytes(2).toString('hex')}`;
  const vtysh = () => ctl('lab', 'exec', name, 'r1', '--', 'vtysh', '-c', 'show ip ospf neighbor').stdout;
  before(() => {
    const up = ctl('lab', 'up', 'examples/frr.clab.yml', '--name', name);
    assert.equal(up.status, 0, `${up.stdout}\n${up.stderr}`);
  });
  after(() => {
    ctl('lab', 'down', name);
  });

  test('OSPF converges over its links (addresses from each router\'s frr.conf), and r1 reaches r2\'s loopback', async () => {
    await until('r1 Full with r2 and r3', () => [...vtysh().matchAll(/^\d+\.\d+\.\d+\.\d+\s+\d+\s+Full/gm)].length === 2, 60_000, vtysh);
    await until('r1 reaching r2\'s loopback', () => ctl('lab', 'exec', name, 'r1', '--', 'ping', '-c', '1', '-W', '1', '-I', '10.255.0.1', '10.255.0.2').status === 0, 15_000, vtysh);
    const status = JSON.parse(ctl('lab', 'status', name, '--output', 'json').stdout) as { labs: Array<{ pods: Array<{ name: string; node: string }> }> };
    assert.deepEqual(status.labs[0]!.pods.map((p) => [p.name, p.node]), [['r1', 'n1'], ['r2', 'n2'], ['r3', 'n1']]);
  });
});

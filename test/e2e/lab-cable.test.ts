// `meshnetctl lab link down|up` (issue 10): a pulled cable takes a link down at both ends, for
// every link kind, stays pulled through a daemon restart, and plugging it back restores traffic.
// One lab per inter-node link type: r1-r2 on one node (veth), r1-r3 across nodes (VXLAN or a
// grpc-wire), and a self link in r2 (eth2-eth3).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { labDown, labUp, type LabState } from '../../src/lab';
import { threePods } from '../helpers/lab-files';
import { linkIn } from '../helpers/netns';

const ctl = (...args: string[]) => spawnSync(process.execPath, [resolve('dist/meshnetctl'), ...args], { encoding: 'utf8' });
/** The nodes' meshnetd logs (their last lines), for a failure's message. */
const logs = (state: LabState) => state.nodes.map((n) => `--- ${n.name}\n${readFileSync(join(state.dir, 'nodes', n.name, 'meshnetd.log'), 'utf8').split('\n').slice(-50).join('\n')}`).join('\n');


for (const [label, linkType, crossKind] of [['VXLAN lab', undefined, 'VXLAN'], ['grpc-wire lab', 'grpc', 'grpc-wire']] as const) {
  describe(`lab link down|up (${label})`, () => {
    const name = `cb${process.pid % 10000}${randomBytes(2).toString('hex')}`;
    let state: LabState;
    before(async () => {
      state = await labUp(threePods(name, { ...(linkType ? { linkType } : {}), net1: '10.71.0', net2: '10.72.0', selfLinkInR2: true }), '(cable)', { cniBinDir: resolve('dist/cni') });
    });
    after(async () => {
      await labDown(name);
    });
    const intf = (pod: string, i: string) => linkIn(state.pods.find((p) => p.name === pod)!.netns, i);
    const pings = (ip: string) => spawnSync('ip', ['netns', 'exec', state.pods.find((p) => p.name === 'r1')!.netns, 'ping', '-c', '2', '-i', '0.2', '-W', '1', ip]).status === 0;

    for (const [kind, a, b, ip] of [['veth', 'r1:eth1', 'r2:eth1', '10.71.0.2'], [crossKind, 'r1:eth2', 'r3:eth1', '10.72.0.3']] as const) {
      test(`a pulled ${kind} cable: both pods' interfaces lose carrier and pings stop`, () => {
        const r = ctl('lab', 'link', 'down', name, a);
        assert.equal(r.status, 0, r.stdout + r.stderr + logs(state));
        assert.match(r.stdout, new RegExp(`${a} - ${b}: cable pulled: both ends without carrier`));
        for (const [pod, i] of [a.split(':'), b.split(':')] as [string, string][]) assert.equal(intf(pod, i)?.carrier, false, `${pod}:${i}`);
        assert.equal(pings(ip), false);
      });

      test(`the ${kind} cable plugged back: carrier at both ends and pings pass`, () => {
        const r = ctl('lab', 'link', 'up', name, b);
        assert.equal(r.status, 0, r.stdout + r.stderr + logs(state));
        for (const [pod, i] of [a.split(':'), b.split(':')] as [string, string][]) assert.equal(intf(pod, i)?.carrier, true, `${pod}:${i}`);
        assert.equal(pings(ip), true);
      });
    }

    if (linkType === 'grpc') {
      test('a pulled grpc-wire leaves both pods\' interfaces admin-up, showing NO-CARRIER, as an unplugged cable does', () => {
        assert.equal(ctl('lab', 'link', 'down', name, 'r3:eth1').status, 0);
        try {
          for (const [pod, i] of [['r1', 'eth2'], ['r3', 'eth1']]) {
            const l = intf(pod!, i!)!;
            assert.deepEqual([l.up, l.carrier], [true, false], `${pod}:${i}`);
          }
        } finally {
          assert.equal(ctl('lab', 'link', 'up', name, 'r3:eth1').status, 0);
        }
      });
    }

    test('a pulled self link: both of the pod\'s interfaces lose carrier; plugged back, both have it', () => {
      const d = ctl('lab', 'link', 'down', name, 'r2:eth3');
      assert.equal(d.status, 0, d.stdout + d.stderr + logs(state));
      assert.deepEqual([intf('r2', 'eth2')?.carrier, intf('r2', 'eth3')?.carrier], [false, false]);
      const u = ctl('lab', 'link', 'up', name, 'r2:eth2');
      assert.equal(u.status, 0, u.stdout + u.stderr + logs(state));
      assert.deepEqual([intf('r2', 'eth2')?.carrier, intf('r2', 'eth3')?.carrier], [true, true]);
    });

    test('a pulled cable stays pulled through a restart of its node\'s meshnetd, and lab check reports it as pulled, not failed', async () => {
      assert.equal(ctl('lab', 'link', 'down', name, 'r1:eth2').status, 0);
      assert.equal(ctl('lab', 'restart-daemon', name, 'n1').status, 0);
      // The restarted daemon reattaches (a wire) and reconciles: the cable is down again at once.
      for (let i = 0; i < 100 && intf('r1', 'eth2')?.carrier !== false; i++) await sleep(50);
      await sleep(1000);
      assert.deepEqual([intf('r1', 'eth2')?.carrier, intf('r3', 'eth1')?.carrier], [false, false]);
      const r = ctl('lab', 'check', name, '--output', 'json');
      assert.equal(r.status, 0, r.stdout + r.stderr);
      const links = (JSON.parse(r.stdout) as { links: { uid: number; pulled?: boolean; pass: boolean; detail: string }[] }).links;
      assert.deepEqual(links.map((l) => [l.uid, l.pulled ?? false, l.pass]), [[1, false, true], [2, true, true], [3, false, true]], JSON.stringify(links));
      assert.equal(ctl('lab', 'link', 'up', name, 'r1:eth2').status, 0);
      assert.equal(pings('10.72.0.3'), true);
    });
  });
}

test('lab link refuses a direction other than down or up, and an interface the pod has no link on', () => {
  const bad = ctl('lab', 'link', 'sideways', 'x', 'r1:eth1');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /lab link takes down or up, got "sideways"/);
  const none = ctl('lab', 'link', 'down', `nolab${process.pid}`, 'r1:eth1');
  assert.equal(none.status, 1);
  assert.match(none.stderr, /no lab named/);
});

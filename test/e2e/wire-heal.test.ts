// A grpc-wire whose veth is cut under meshnetd is made again (issue 21: in a storm run a wire end
// kept a host interface that no longer existed and its link never passed traffic again; the
// reconciler retried "setting mtu on gw…: ENODEV" as-is). Here the host end is deleted on purpose,
// with the daemon running and while it is down, on either side of the wire: the wire comes back
// and the link passes traffic, without any Topology change to prompt it.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { NetNs, Rtnl } from '../../src/kernel';
import { checkLinks, labDown, labUp, netnsPath, processGone, restartDaemon, type LabState } from '../../src/lab';
import { twoPods } from '../helpers/lab-files';
import { openStore } from '../../src/store';
import { TopologyClient } from '../../src/topology';
import { wireHostIntf, wireId } from '../../src/wire/ids';
import { until } from '../helpers/wait';

const runDir = mkdtempSync(join(tmpdir(), 'wire-heal-'));

const name = `wh${process.pid % 10000}${randomBytes(2).toString('hex')}`;
let lab: LabState;
before(async () => {
  lab = await labUp(twoPods(name, { linkType: 'grpc' }), '(wire-heal)', { runDir, cniBinDir: resolve('dist/cni') });
});
// One hook, in this order: root hooks run in the order they are registered, and the run
// directory removed while the daemons still wrote to its store failed with ENOTEMPTY.
after(async () => {
  await labDown(name, { runDir });
  rmSync(runDir, { recursive: true, force: true });
});

const node = (n: string) => lab.nodes.find((x) => x.name === n)!;
const daemonLog = (n: string) => readFileSync(join(lab.dir, 'nodes', n, 'meshnetd.log'), 'utf8').split('\n').slice(-20).join('\n');

/**
 * Deletes pod `pod`'s wire host end on its node, as an operator's `ip link del` would; the pod's
 * interface goes with it (the daemon may have made both again by the time this returns).
 */
function cutHostEnd(pod: string, n: string): void {
  const ns = NetNs.open(netnsPath(node(n).netns));
  const rt = Rtnl.open(ns);
  try {
    assert.equal(rt.deleteLink(wireHostIntf(wireId('default', pod, 'eth1'))), true, 'the host end existed');
  } finally {
    rt.close();
    ns.close();
  }
}

const linkPasses = async () => (await checkLinks(lab, await new TopologyClient(await openStore(lab.store)).list())).every((r) => r.pass);

describe('a wire whose host end is deleted', () => {
  test('the link passes traffic before the cut', async () => {
    await until('the link to pass traffic', linkPasses);
  });

  test('on the node of the pod that starts the wire (the greater name), with its daemon running: made again, traffic passes', async () => {
    cutHostEnd('r2', 'n2');
    await until('the wire made again and passing traffic', linkPasses, 10_000, () => daemonLog('n2'));
    assert.match(daemonLog('n2'), /its veth \(host end gw\w+\) is gone/);
  });

  test('on the node of the pod that waits for the wire (the lesser name), with its daemon running: made again, traffic passes', async () => {
    cutHostEnd('r1', 'n1');
    await until('the wire made again and passing traffic', linkPasses, 10_000, () => daemonLog('n1'));
  });

  test('while that node\'s meshnetd is down: the restarted daemon makes the wire again, traffic passes', async () => {
    const n1 = node('n1');
    const pid = n1.daemonPid!;
    process.kill(pid, 'SIGKILL');
    await until('the daemon to exit', () => processGone(pid));
    cutHostEnd('r1', 'n1');
    await restartDaemon(lab, n1);
    await until('the wire made again and passing traffic', linkPasses, 10_000, () => daemonLog('n1'));
  });
});

import { NetNs, Rtnl, createNamedNetns, deleteNamedNetns, withNetns, listNamedNetns, readSysctl } from './src/kernel/index';
import { execSync } from 'node:child_process';
const n = `smk-${process.pid}`;
createNamedNetns(n);
try {
  console.log(listNamedNetns());
  const ns = NetNs.open(n);
  const r = Rtnl.open(); const rn = Rtnl.open(ns);
  let t = performance.now(); const ls = r.links(); console.log('dump', performance.now() - t, ls.length);
  t = performance.now(); for (let i = 0; i < 100; i++) r.links(); console.log('dump avg ms', (performance.now() - t) / 100);
  console.log(rn.links());
  t = performance.now();
  r.createVeth({ name: 'smkA', peerName: 'smkB', peerNs: ns, mtu: 9000 });
  console.log('veth ms', performance.now() - t);
  console.log(r.link('smkA'), rn.link('smkB'));
  r.setUp('smkA'); rn.setUp('smkB');
  r.addAddr('smkA', '10.99.0.1/24'); rn.addAddr('smkB', '10.99.0.2/24');
  rn.addAddr('smkB', 'fd99::2/64', { noDad: true });
  console.log(rn.addrs('smkB'));
  rn.addRoute({ dst: '10.98.0.0/16', gw: '10.99.0.1', table: 100 });
  rn.addRoute({ dst: 'default', gw: '10.99.0.1' });
  console.log(rn.routes({ family: 4 }));
  console.log(withNetns(ns, () => readSysctl('net.ipv4.ip_forward')));
  console.log(execSync(`ip netns exec ${n} ping -c1 -W1 10.99.0.1`).toString().split('\n')[1]);
  try { r.createVeth({ name: 'smkA', peerName: 'smkC' }); } catch (e) { console.log(String(e), (e as any).code); }
  console.log(r.deleteLink('smkA'), r.deleteLink('smkA'));
  r.close(); rn.close(); ns.close();
} finally { console.log(deleteNamedNetns(n)); }

// The API-server double driven by the real kubectl: if kubectl can apply meshnet's CRDs and its
// whole deploy/ to it, create and read Topology objects, and sees the status, printer columns,
// validation and selector errors a real cluster gives, then the double speaks the protocol our
// Kubernetes store is tested against. Also proves the CRDs and kustomizations are well formed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { KubeStore } from '../../src/store/kube/kube-store';
import { TopologyClient } from '../../src/topology';
import { startKube, type TestKube } from '../helpers/kube';

let kube: TestKube;
before(async () => { kube = await startKube({ crds: false }); });
after(async () => { await kube?.stop(); });

/** Runs the real kubectl against the double (asynchronously: the double lives in this process). */
function kubectl(args: string[], input?: string): Promise<{ status: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn('kubectl', ['--kubeconfig', kube.kubeconfig, '--cache-dir', join(kube.dir, 'kubectl-cache'), '--request-timeout', '20s', ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    c.on('error', reject);
    c.on('close', (status) => resolve({ status, out, err }));
    c.stdin.end(input ?? '');
  });
}

async function ok(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, input);
  assert.equal(r.status, 0, `kubectl ${args.join(' ')} failed: ${r.err}`);
  return r.out;
}

const TOPO = (name: string, extra = '') => `
apiVersion: networkop.co.uk/v1beta1
kind: Topology
metadata:
  name: ${name}
  labels: {role: ${name === 'r1' ? 'core' : 'edge'}}
spec:
  links:
    - uid: 1
      peer_pod: ${name === 'r1' ? 'r2' : 'r1'}
      local_intf: eth1
      peer_intf: eth1
      local_ip: 12.12.12.${name === 'r1' ? 1 : 2}/24${extra}
`;

test('kubectl applies the whole deploy/overlays/vxlan (namespace, CRDs, RBAC, DaemonSet) and finds DaemonSet meshnet/meshnet', async () => {
  const out = await ok(['apply', '-k', 'deploy/overlays/vxlan']);
  for (const o of ['namespace/meshnet', 'customresourcedefinition.apiextensions.k8s.io/topologies.networkop.co.uk',
    'customresourcedefinition.apiextensions.k8s.io/gwirekobjs.networkop.co.uk', 'serviceaccount/meshnet',
    'clusterrole.rbac.authorization.k8s.io/meshnet-clusterrole', 'clusterrolebinding.rbac.authorization.k8s.io/meshnet-clusterrolebinding',
    'daemonset.apps/meshnet']) {
    assert.match(out, new RegExp(`${o.replace(/\./g, '\\.')} created`));
  }
  const ds = JSON.parse(await ok(['get', 'daemonset', 'meshnet', '-n', 'meshnet', '-o', 'json'])) as { spec: { template: { spec: { hostNetwork: boolean } } } };
  assert.equal(ds.spec.template.spec.hostNetwork, true);
  // Applying again changes nothing.
  assert.match(await ok(['apply', '-k', 'deploy/overlays/vxlan']), /topologies\.networkop\.co\.uk unchanged/);
});

test('kubectl creates Topologies and reads them back; `get topo` shows the node IP and plumbing error columns of the status', async () => {
  await ok(['apply', '-f', '-'], `${TOPO('r1')}---${TOPO('r2')}`);
  const topologies = new TopologyClient(new KubeStore(kube.storeRef));
  await topologies.setStatus('default', 'r1', { src_ip: '192.0.2.11', net_ns: '/var/run/netns/r1', plumbing_error: 'spec.links[1].local_ip: bad' });
  const table = await ok(['get', 'topo']);
  const lines = table.trim().split('\n');
  assert.match(lines[0]!, /^NAME\s+NODE IP\s+ERROR\s+AGE$/);
  assert.match(lines[1]!, /^r1\s+192\.0\.2\.11\s+spec\.links\[1\]\.local_ip: bad\s+\d+s$/);
  assert.match(lines[2]!, /^r2\s+\d+s$/);
  const y = parseYaml(await ok(['get', 'topo', 'r1', '-o', 'yaml'])) as { status: unknown; spec: unknown };
  const mine = (await topologies.get('default', 'r1'))!;
  assert.deepEqual(y.status, mine.status, 'kubectl -o yaml shows the status the store wrote');
  assert.deepEqual(y.spec, mine.spec);
});

test('kubectl sees the API server\'s validation: a string uid is refused with 422, an unknown field with strict decoding', async () => {
  let r = await kubectl(['apply', '-f', '-'], TOPO('bad1').replace('uid: 1', 'uid: "one"'));
  assert.notEqual(r.status, 0);
  assert.match(r.err, /spec\.links\[0\]\.uid: Invalid value: "one": spec\.links\[0\]\.uid in body must be of type integer: "string"/);
  r = await kubectl(['apply', '-f', '-'], TOPO('bad2', '\n      mtu_typo: 9000'));
  assert.notEqual(r.status, 0);
  assert.match(r.err, /strict decoding error: unknown field "spec\.links\[0\]\.mtu_typo"/);
  assert.match((await kubectl(['get', 'topo', 'bad1'])).err, /NotFound/);
});

test('kubectl selectors: labels work, field selectors on custom resources only for metadata.name and metadata.namespace', async () => {
  assert.match(await ok(['get', 'topo', '-l', 'role=core', '-o', 'name']), /^topology\.networkop\.co\.uk\/r1\n$/);
  assert.match(await ok(['get', 'topo', '-l', 'role in (edge)', '-o', 'name']), /^topology\.networkop\.co\.uk\/r2\n$/);
  assert.match(await ok(['get', 'topo', '--field-selector', 'metadata.name=r2', '-o', 'name']), /^topology\.networkop\.co\.uk\/r2\n$/);
  const r = await kubectl(['get', 'topo', '--field-selector', 'status.src_ip=192.0.2.11']);
  assert.notEqual(r.status, 0);
  assert.match(r.err, /field label not supported: status\.src_ip/);
});

test('the status subresource: kubectl patching the main resource cannot change status, patching /status can', async () => {
  await ok(['patch', 'topo', 'r2', '--type=merge', '-p', '{"status":{"src_ip":"198.51.100.1"}}']);
  assert.equal(await ok(['get', 'topo', 'r2', '-o', 'jsonpath={.status.src_ip}']), '');
  await ok(['patch', 'topo', 'r2', '--subresource=status', '--type=merge', '-p', '{"status":{"src_ip":"198.51.100.1"}}']);
  assert.equal(await ok(['get', 'topo', 'r2', '-o', 'jsonpath={.status.src_ip}']), '198.51.100.1');
});

test('kubectl delete removes the Topology, and deleting a namespace removes what is in it', async () => {
  await ok(['create', 'namespace', 'doomed']);
  await ok(['apply', '-n', 'doomed', '-f', '-'], TOPO('r1'));
  await ok(['delete', 'topo', 'r2']);
  assert.match((await kubectl(['get', 'topo', 'r2'])).err, /NotFound/);
  await ok(['delete', 'namespace', 'doomed']);
  assert.equal(await new TopologyClient(new KubeStore(kube.storeRef)).get('doomed', 'r1'), undefined);
});

test('scripts/make-cluster-certs.sh makes a certificate per node naming its InternalIPs, and the Secret the mtls overlays mount (without the CA key)', async () => {
  const { mkdtempSync, readFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { X509Certificate } = await import('node:crypto');
  for (const [name, ip] of [['worker-1', '10.0.0.11'], ['worker-2', '10.0.0.12']] as const) {
    kube.seed(`{"apiVersion":"v1","kind":"Node","metadata":{"name":"${name}"},"status":{"addresses":[{"type":"InternalIP","address":"${ip}"},{"type":"Hostname","address":"${name}"}]}}`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'cluster-certs-'));
  try {
    const r = await new Promise<{ status: number | null; err: string }>((resolve, reject) => {
      const c = spawn('bash', ['scripts/make-cluster-certs.sh', dir], { env: { ...process.env, KUBECONFIG: kube.kubeconfig }, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
      c.on('error', reject);
      c.on('close', (status) => resolve({ status, err }));
    });
    assert.equal(r.status, 0, r.err);
    const ca = new X509Certificate(readFileSync(join(dir, 'ca.crt')));
    for (const [name, ip] of [['worker-1', '10.0.0.11'], ['worker-2', '10.0.0.12']]) {
      const cert = new X509Certificate(readFileSync(join(dir, `${name}.crt`)));
      assert.ok(cert.verify(ca.publicKey), `${name}'s certificate is signed by the CA`);
      assert.equal(cert.subjectAltName, `DNS:${name}, IP Address:${ip}`);
    }
    const secret = JSON.parse(await ok(['-n', 'meshnet', 'get', 'secret', 'meshnet-peer-tls', '-o', 'json'])) as { data: Record<string, string> };
    assert.deepEqual(Object.keys(secret.data).sort(), ['ca.crt', 'worker-1.crt', 'worker-1.key', 'worker-2.crt', 'worker-2.key']);
    // The DaemonSet of the mtls overlays mounts exactly this Secret and names these files.
    const ds = (await new Promise<string>((resolve, reject) => {
      const c = spawn('kubectl', ['kustomize', 'deploy/overlays/grpc-mtls']);
      let out = '';
      c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
      c.on('error', reject);
      c.on('close', () => resolve(out));
    })).split('\n---\n').map((d) => parseYaml(d) as { kind: string; spec: { template: { spec: { volumes: { name: string; secret?: { secretName: string } }[]; containers: { args?: string[] }[] } } } })
      .find((d) => d.kind === 'DaemonSet')!;
    assert.ok(ds.spec.template.spec.volumes.some((v) => v.secret?.secretName === 'meshnet-peer-tls'));
    assert.deepEqual(ds.spec.template.spec.containers[0]!.args, ['--peer-tls', 'require', '--tls-cert', '/etc/meshnet/tls/$(NODE_NAME).crt', '--tls-key', '/etc/meshnet/tls/$(NODE_NAME).key', '--tls-ca', '/etc/meshnet/tls/ca.crt']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

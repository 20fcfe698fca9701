import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCniRequest, serveCniRequest } from '../../src/daemon/cni-socket';
import { emptyResult, type PluginFuncs } from '../../src/cni';

test('a shim request parses into CNI_* variables and stdin', () => {
  const req = parseCniRequest(Buffer.from('MNC1\nCNI_COMMAND=ADD\nCNI_ARGS=A=b;C=d\n\n{"x":1}\n'));
  assert.deepEqual(req, { env: { CNI_COMMAND: 'ADD', CNI_ARGS: 'A=b;C=d' }, stdin: '{"x":1}\n' });
  assert.deepEqual(parseCniRequest(Buffer.from('MNC1\n\n')), { env: {}, stdin: '' });
});

test('malformed shim requests are refused with what is wrong', () => {
  assert.throws(() => parseCniRequest(Buffer.from('GET / HTTP/1.1\n\n')), /bad magic/);
  assert.throws(() => parseCniRequest(Buffer.from('MNC1\nCNI_COMMAND=ADD\n')), /no end of environment/);
  assert.throws(() => parseCniRequest(Buffer.from('MNC1\nLD_PRELOAD=/x.so\n\n')), /only CNI_\* variables/);
  assert.throws(() => parseCniRequest(Buffer.from('MNC1\nnoequals\n\n')), /malformed variable line/);
});

test('a forwarded call runs through the plugin skeleton: exit code line, then the plugin stdout', async () => {
  const plugin: PluginFuncs = { about: 't', add: async (ctx) => emptyResult(ctx.conf.cniVersion), del: async () => undefined };
  const ok = await serveCniRequest(plugin, {
    env: { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/proc/self/ns/net', CNI_IFNAME: 'eth0', CNI_PATH: '/x' },
    stdin: '{"cniVersion":"1.0.0","name":"n","type":"t"}',
  });
  assert.equal(ok.toString(), '0\n{"cniVersion":"1.0.0","dns":{}}\n');
  const bad = await serveCniRequest(plugin, { env: { CNI_COMMAND: 'ADD' }, stdin: '{"cniVersion":"1.0.0","name":"n","type":"t"}' });
  const [code, body] = bad.toString().split('\n');
  assert.equal(code, '1');
  assert.equal(JSON.parse(body!).code, 4);
});

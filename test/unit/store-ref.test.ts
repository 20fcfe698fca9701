// Store references for etcd: etcd:// (HTTP) and etcds:// (TLS), with settings as a query; every
// mistake is refused naming the setting, before anything connects.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isStoreRef } from '../../src/store';
import { etcdSettings } from '../../src/store/open';

const dir = mkdtempSync(join(tmpdir(), 'store-ref-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => { const p = join(dir, name); writeFileSync(p, text); return p; };

test('etcds:// reads the CA, the client certificate and key, the user and the password (one trailing newline dropped)', () => {
  const [ca, cert, key, pw] = [file('ca.crt', 'CA'), file('c.crt', 'CERT'), file('c.key', 'KEY'), file('pw', 's3cret\n')];
  const s = etcdSettings(`etcds://10.0.0.1:2379,10.0.0.2:2379?cacert=${ca}&cert=${cert}&key=${key}&user=meshnet&password-file=${pw}`);
  assert.deepEqual(s.endpoints, ['https://10.0.0.1:2379', 'https://10.0.0.2:2379']);
  assert.deepEqual([s.options.tls?.ca?.toString(), s.options.tls?.cert?.toString(), s.options.tls?.key?.toString()], ['CA', 'CERT', 'KEY']);
  assert.deepEqual(s.options.auth, { user: 'meshnet', password: 's3cret' });
  assert.ok(isStoreRef(`etcds://10.0.0.1:2379?cacert=${ca}`));
});

test('etcd:// with user and password-file: HTTP with auth, no TLS', () => {
  const s = etcdSettings(`etcd://127.0.0.1:2379?user=u&password-file=${file('pw2', 'p')}`);
  assert.deepEqual([s.endpoints, s.options.tls, s.options.auth], [['http://127.0.0.1:2379'], undefined, { user: 'u', password: 'p' }]);
});

test('mistakes are refused naming the setting', () => {
  const ca = file('ca2.crt', 'CA');
  const cases: [string, RegExp][] = [
    [`etcd://h:1?cacert=${ca}`, /cacert needs TLS: use etcds:\/\//],
    [`etcds://h:1?capath=${ca}`, /unknown setting "capath" \(known: cacert, cert, key, user, password-file\)/],
    [`etcds://h:1?cert=${ca}`, /cert and key go together \(key is missing\)/],
    ['etcds://h:1?user=u', /user and password-file go together \(password-file is missing\)/],
    ['etcds://h:1?cacert=ca.crt', /cacert: "ca\.crt" is not an absolute path/],
    [`etcds://h:1?cacert=${join(dir, 'missing')}`, /cacert: cannot read .*missing: ENOENT/],
    [`etcds://h:1?cacert=${ca}&cacert=${ca}`, /setting "cacert" given twice/],
    ['etcds://nohostport', /expected etcd:\/\/host:port/],
  ];
  for (const [ref, re] of cases) assert.throws(() => etcdSettings(ref), (e: unknown) => (e as { code?: string }).code === 'Invalid' && re.test((e as Error).message), ref);
});

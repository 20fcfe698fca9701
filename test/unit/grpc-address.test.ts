// Peer addresses and int64 input checks of the gRPC layer (no sockets).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { grpcAddress, grpcBaseUrl, MESHNET_GRPC_PORT, toInt64, GrpcCallError, grpcStatusName, Status } from '../../src/grpc/index';

test('MESHNET_GRPC_PORT is upstream\'s 51111', () => {
  assert.equal(MESHNET_GRPC_PORT, 51111);
});

test('grpcAddress brackets IPv6 (regression: upstream\'s "%s:%d" broke IPv6-only clusters)', () => {
  assert.equal(grpcAddress('::1', 51111), '[::1]:51111');
  assert.equal(grpcAddress('fd00:10::2', 51111), '[fd00:10::2]:51111');
  assert.equal(grpcAddress('[fd00::2]', 7), '[fd00::2]:7');
  assert.equal(grpcAddress('10.0.0.2', 51111), '10.0.0.2:51111');
  assert.equal(grpcAddress(' 10.0.0.2 '), '10.0.0.2:51111');
  assert.equal(grpcAddress('node-2.example'), 'node-2.example:51111');
});

test('grpcAddress refuses bad input, naming it', () => {
  assert.throws(() => grpcAddress('', 51111), /empty/);
  assert.throws(() => grpcAddress('10.0.0.2', 0), /port must be an integer 1\.\.65535, got 0/);
  assert.throws(() => grpcAddress('10.0.0.2', 70000), /got 70000/);
  assert.throws(() => grpcAddress('fd00::zz', 1), /not an IP address or host name: "fd00::zz"/);
});

test('grpcBaseUrl accepts host:port and [v6]:port, refuses an unbracketed IPv6 address', () => {
  assert.equal(grpcBaseUrl('10.0.0.2:51111'), 'http://10.0.0.2:51111');
  assert.equal(grpcBaseUrl('[::1]:51111'), 'http://[::1]:51111');
  assert.equal(grpcBaseUrl('[fe80::1%eth0]:51111'), 'http://[fe80::1%25eth0]:51111');
  assert.throws(() => grpcBaseUrl('fd00::1:51111'), /host:port or \[ipv6\]:port/);
  assert.throws(() => grpcBaseUrl('10.0.0.2'), /host:port/);
  assert.throws(() => grpcBaseUrl('[zz]:1'), /not an IPv6 address/);
});

test('toInt64 takes bigint and safe-integer numbers, range-checked, naming the field', () => {
  assert.equal(toInt64(5001, 'vni'), 5001n);
  assert.equal(toInt64(-(2n ** 63n), 'vni'), -(2n ** 63n));
  assert.equal(toInt64(2n ** 64n - 1n, 'id', true), 2n ** 64n - 1n);
  assert.throws(() => toInt64(1.5, 'RemotePod.vni'), /RemotePod\.vni: expected an integer .* got 1\.5/);
  assert.throws(() => toInt64(2 ** 53, 'vni'), /expected an integer/);
  assert.throws(() => toInt64('7', 'vni'), /got string "7"/);
  assert.throws(() => toInt64(2n ** 63n, 'vni'), /outside the int64 range/);
  assert.throws(() => toInt64(-1n, 'id', true), /outside the uint64 range/);
});

test('GrpcCallError names peer, method and code, shaped as grpc-js\'s ServiceError (numeric code, details)', () => {
  const e = new GrpcCallError('[::1]:51111', 'meshnet.v1beta1.Remote/Update', 4, 'the operation timed out');
  assert.equal(e.message, 'gRPC meshnet.v1beta1.Remote/Update to [::1]:51111 failed: DEADLINE_EXCEEDED: the operation timed out');
  assert.equal(e.code, Status.DEADLINE_EXCEEDED);
  assert.equal(e.code, 4);
  assert.equal(e.codeName, 'DEADLINE_EXCEEDED');
  assert.equal(e.details, 'the operation timed out');
  assert.equal(e.name, 'GrpcCallError');
  assert.equal(grpcStatusName(1), 'CANCELLED');
  assert.equal(grpcStatusName(99), 'UNKNOWN');
});

// grpc-message as the gRPC spec writes it: printable ASCII but '%' as is, every other byte %XX.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeGrpcMessage, encodeGrpcMessage } from '../../src/grpc/status-message';

test('printable ASCII but % is sent as is; %, control bytes and UTF-8 bytes are percent-encoded', () => {
  assert.equal(encodeGrpcMessage('netns /var/run/netns/cni-1: gone (a=b?)'), 'netns /var/run/netns/cni-1: gone (a=b?)');
  assert.equal(encodeGrpcMessage('100%\n'), '100%25%0A');
  assert.equal(encodeGrpcMessage('é–'), '%C3%A9%E2%80%93');
});

test('decoding gives back what was encoded, for any string', () => {
  for (const m of ['', 'plain', '%', '%%41', 'a%2Fb', 'tab\there', 'é – 漢字 🙂', '\x7f\x00']) assert.equal(decodeGrpcMessage(encodeGrpcMessage(m)), m);
});

test('a % not followed by two hex digits is kept as it is, not an error', () => {
  assert.equal(decodeGrpcMessage('100% sure %zz %4'), '100% sure %zz %4');
  assert.equal(decodeGrpcMessage('a%2Fb'), 'a/b');
});

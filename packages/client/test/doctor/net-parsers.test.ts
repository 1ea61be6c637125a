/** iproute2 parsers on outputs recorded on this project's machine (iproute2 6.1.0, in network namespaces). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ipv4InCidr,
  parseIpAddrOneline,
  parseIpRouteGet,
  parseSsTcpInfo,
} from '../../src/doctor/net-parsers.js';
import { fixture } from './helpers.js';

test('ip route get: via a gateway, on-link, local, and no route', () => {
  assert.deepEqual(parseIpRouteGet(fixture('ip-route-get-via-gateway.txt')), {
    ok: true,
    route: {
      kind: 'unicast',
      destination: '10.77.2.2',
      gateway: '10.77.1.1',
      device: 'doctor-tc0',
      source: '10.77.1.2',
    },
  });
  assert.deepEqual(parseIpRouteGet(fixture('ip-route-get-on-link.txt')), {
    ok: true,
    route: { kind: 'unicast', destination: '10.77.2.2', device: 'doctor-tr1', source: '10.77.2.1' },
  });
  assert.deepEqual(parseIpRouteGet(fixture('ip-route-get-loopback.txt')), {
    ok: true,
    route: { kind: 'local', destination: '127.0.0.1', device: 'lo', source: '127.0.0.1' },
  });
  assert.deepEqual(parseIpRouteGet(fixture('ip-route-get-ipv6-loopback.txt')), {
    ok: true,
    route: { kind: 'local', destination: '::1', device: 'lo', source: '::1' },
  });
  assert.deepEqual(parseIpRouteGet(fixture('ip-route-get-unreachable.txt')), {
    ok: false,
    error: 'Network is unreachable',
  });
  assert.equal(parseIpRouteGet('unreachable 10.9.9.9 uid 0\n').ok, false);
  assert.equal(parseIpRouteGet('').ok, false);
});

test('ip -o addr show: addresses and subnets', () => {
  const addresses = parseIpAddrOneline(fixture('ip-addr-show-veth.txt'));
  assert.deepEqual(addresses, [
    { device: 'doctor-tc0', family: 'inet', cidr: '10.77.1.2/24' },
    { device: 'doctor-tc0', family: 'inet6', cidr: 'fe80::54ab:f6ff:fe6a:4066/64' },
  ]);
  assert.ok(ipv4InCidr('10.77.1.9', '10.77.1.2/24'));
  assert.ok(!ipv4InCidr('10.77.2.9', '10.77.1.2/24'));
  assert.ok(ipv4InCidr('192.168.4.1', '0.0.0.0/0'));
  assert.ok(ipv4InCidr('10.1.2.3', '10.1.2.3/32'));
  assert.ok(!ipv4InCidr('fe80::1', '10.0.0.0/8'));
  assert.ok(!ipv4InCidr('10.0.0.300', '10.0.0.0/8'));
});

test('ss -tin: a fresh socket has no data counters; after loss, retransmissions and data segments', () => {
  assert.deepEqual(parseSsTcpInfo(fixture('ss-tin-fresh.txt')), [
    {
      local: '10.77.1.2:43484',
      peer: '10.77.2.2:9000',
      dataSegmentsOut: 0,
      retransmitted: 0,
      rtoMs: 200,
      rttMs: 0.069,
    },
  ]);
  const [after] = parseSsTcpInfo(fixture('ss-tin-after-loss.txt'));
  assert.equal(after?.dataSegmentsOut, 504);
  assert.equal(after?.retransmitted, 50);
  assert.equal(after?.rttMs, 0.79);
  assert.deepEqual(parseSsTcpInfo(''), []);
});

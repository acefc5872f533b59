import assert from 'node:assert/strict';
import { crossOrigin, hostName, loopbackHost } from '../../src/net/http-guard';

describe('net/http-guard', () => {
  it('reads the host name of a Host header, IPv6 in brackets, and nothing from a malformed one', () => {
    assert.equal(hostName('127.0.0.1:7070'), '127.0.0.1');
    assert.equal(hostName('LocalHost'), 'localhost');
    assert.equal(hostName('[::1]:80'), '[::1]');
    assert.equal(hostName('a:b:c'), null);
    assert.equal(hostName(''), null);
  });

  it('tells a loopback Host from a re-pointed name (DNS rebinding); no Host (not a browser) passes', () => {
    assert.equal(loopbackHost({ host: '127.0.0.1:7070' }), true);
    assert.equal(loopbackHost({ host: 'localhost:7070' }), true);
    assert.equal(loopbackHost({ host: '[::1]:7070' }), true);
    assert.equal(loopbackHost({ host: 'evil.example:7070' }), false);
    assert.equal(loopbackHost({ host: '10.0.0.5:7070' }), false);
    assert.equal(loopbackHost({}), true);
  });

  it('calls an Origin cross-origin unless it is http(s) on the very Host asked for; no Origin is not cross-origin', () => {
    assert.equal(crossOrigin({ host: '127.0.0.1:7070' }), false);
    assert.equal(crossOrigin({ host: '127.0.0.1:7070', origin: 'http://127.0.0.1:7070' }), false);
    assert.equal(crossOrigin({ host: '127.0.0.1:7070', origin: 'https://127.0.0.1:7070' }), false);
    assert.equal(crossOrigin({ host: '127.0.0.1:7070', origin: 'http://evil.example' }), true);
    assert.equal(crossOrigin({ host: '127.0.0.1:7070', origin: 'http://127.0.0.1:7071' }), true);
    assert.equal(crossOrigin({ host: '127.0.0.1:7070', origin: 'null' }), true);
  });
});

import assert from 'node:assert/strict';
import { isLoopback } from '../../src/net/loopback';

describe('isLoopback', () => {
  it('tells loopback hosts from the others', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', 'LOCALHOST', '::ffff:127.0.0.1']) assert.ok(isLoopback(h), h);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.2', 'example.com', '128.0.0.1', '::ffff:10.0.0.1', 'localhost.example.com']) {
      assert.ok(!isLoopback(h), h);
    }
  });
});

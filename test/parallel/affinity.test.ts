/**
 * Thread placement (src/parallel/affinity.ts, native/threads.cc): the plan, and on Linux the
 * calling thread's CPU set as the kernel reports it in /proc/thread-self/status.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { allowedCpus, pinPlan, pinThisThread } from '../../src/parallel/affinity';

/** Cpus_allowed_list ("0-3,6") of the calling thread, expanded. */
function kernelSays(): number[] {
  const line = fs
    .readFileSync('/proc/thread-self/status', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Cpus_allowed_list:'))!;
  return line
    .split(':')[1]!
    .trim()
    .split(',')
    .flatMap((r) => {
      const [a, b] = r.split('-').map(Number) as [number, number | undefined];
      return Array.from({ length: (b ?? a) - a + 1 }, (_, i) => a + i);
    });
}

describe('thread placement (parallel/affinity.ts)', () => {
  it('plans a CPU per compute thread, main first, only when there is one for each and more than one thread', () => {
    assert.deepEqual(pinPlan(2, [0, 1]), [0, 1]);
    assert.deepEqual(pinPlan(2, [2, 5, 7]), [2, 5]);
    assert.equal(pinPlan(3, [0, 1]), null, 'more threads than CPUs: they float');
    assert.equal(pinPlan(1, [0, 1]), null, 'one thread: nothing to keep apart');
    assert.equal(pinPlan(2, null), null, 'unknown CPUs: they float');
  });

  describe('on Linux', function () {
    before(function () {
      if (process.platform !== 'linux') this.skip();
    });

    it('reads the CPUs the kernel lets this thread use (the install builds the addon)', () => {
      assert.deepEqual(allowedCpus(), kernelSays());
    });

    it('pins the calling thread to one CPU and gives it its CPUs back', () => {
      const before = allowedCpus()!;
      const cpu = before[before.length - 1]!;
      try {
        assert.equal(pinThisThread([cpu]), null);
        assert.deepEqual(kernelSays(), [cpu]);
        assert.deepEqual(allowedCpus(), [cpu]);
      } finally {
        assert.equal(pinThisThread(before), null);
      }
      assert.deepEqual(kernelSays(), before);
    });

    it('says why when the kernel refuses (a CPU this machine does not have), and leaves the thread as it was', () => {
      const before = allowedCpus()!;
      assert.match(pinThisThread([1023]) ?? '', /sched_setaffinity\(1023\) failed \(errno 22\)/);
      assert.deepEqual(kernelSays(), before);
    });
  });
});

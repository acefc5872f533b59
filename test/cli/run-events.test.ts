import assert from 'node:assert/strict';
import { evalLine, recordConsoleLine, workerLine } from '../../src/cli/run-events';

describe('cli/run-events (console lines of records)', () => {
  it('prints one line per held-out evaluation: loss and accuracy, or loss alone for regression', () => {
    assert.equal(
      evalLine({ msg: 'eval', step: 45, epoch: 0, loss: 0.123456789, accuracy: 0.9721 }),
      'epoch 0 (step 45): held-out loss 0.123457, accuracy 97.21 %',
    );
    assert.equal(evalLine({ msg: 'eval', step: 9, epoch: 2, loss: 0.5 }), 'epoch 2 (step 9): held-out loss 0.5');
  });

  it('prints a worker joining, leaving, dropped and refused, naming it by id or address', () => {
    const cases: [Record<string, unknown>, string][] = [
      [
        { msg: 'remote: worker joined', executor: 'remote-w1', peer: '127.0.0.1:4000', workers: 2 },
        'worker remote-w1 joined from 127.0.0.1:4000 (2 connected)',
      ],
      [{ msg: 'remote: worker left', executor: 'remote-w1', closeCode: 1001 }, 'worker remote-w1 left (close code 1001)'],
      [{ msg: 'remote: worker missed a pong, terminated', executor: 'remote-w1' }, 'worker remote-w1 dropped: it missed a heartbeat'],
      [
        { msg: 'remote: bad peer, connection closed', executor: 'remote-w1', err: 'remote-w1: bad partial' },
        'worker remote-w1 dropped: remote-w1: bad partial',
      ],
      [
        { msg: 'remote: step deadline missed, range recomputed elsewhere', executor: 'remote-w1', step: 7 },
        'worker remote-w1 late at step 7: its range was recomputed elsewhere',
      ],
      [
        { msg: 'remote: join refused (401)', peer: '10.0.0.2:999', reason: 'wrong token' },
        'worker from 10.0.0.2:999 refused: wrong token (401)',
      ],
      [{ msg: 'remote: join refused (503, full)', peer: '10.0.0.2:999' }, 'worker from 10.0.0.2:999 refused: the run is full (503)'],
      [
        { msg: 'remote: handshake refused, connection closed', peer: '10.0.0.2:999', err: 'kernel spec v1 expected' },
        'worker from 10.0.0.2:999 refused: kernel spec v1 expected',
      ],
    ];
    for (const [rec, line] of cases) assert.equal(workerLine(rec), line);
  });

  it('has no line for steps, checkpoints or the live stream’s own records', () => {
    for (const msg of ['step', 'checkpoint', 'monitor: subscriber connected', 'remote: listening for workers', 'start'])
      assert.equal(recordConsoleLine({ msg }), null, msg);
  });
});

import {test} from 'node:test';
import assert from 'node:assert/strict';
import {exitStatus, forwardSignals} from '../../../src/runtime/signals';

function harness(tty: boolean, catches = false) {
  const sent: string[] = [];
  let kills = 0;
  const stop = forwardSignals(
    {pid: () => 4242, killAll: () => kills++},
    {tty, catches: () => catches, kill: (pid, sig) => sent.push(`${pid}:${sig}`)},
  );
  return {sent, kills: () => kills, stop};
}

test('signals are forwarded to PID 1; a second SIGTERM kills the container', () => {
  const h = harness(false);
  try {
    process.emit('SIGUSR1', 'SIGUSR1');
    process.emit('SIGHUP', 'SIGHUP');
    process.emit('SIGTERM', 'SIGTERM');
    assert.deepEqual(h.sent, ['4242:SIGUSR1', '4242:SIGHUP', '4242:SIGTERM']);
    assert.equal(h.kills(), 0);
    process.emit('SIGINT', 'SIGINT');
    assert.equal(h.kills(), 1);
  } finally {
    h.stop();
  }
  assert.equal(process.listenerCount('SIGTERM'), 0, 'handlers removed');
});

test('on a terminal, Ctrl-C is not sent again; it counts unless PID 1 handles SIGINT', () => {
  const shell = harness(true, true);
  try {
    for (let i = 0; i < 3; i++) process.emit('SIGINT', 'SIGINT');
    assert.deepEqual(shell.sent, []);
    assert.equal(shell.kills(), 0, 'Ctrl-C at a shell prompt never kills the shell');
  } finally {
    shell.stop();
  }
  const sleeper = harness(true, false);
  try {
    process.emit('SIGINT', 'SIGINT');
    assert.equal(sleeper.kills(), 0);
    process.emit('SIGINT', 'SIGINT');
    assert.equal(sleeper.kills(), 1, 'the user can always get out');
    assert.deepEqual(sleeper.sent, []);
  } finally {
    sleeper.stop();
  }
});

test('exit status: the code, or 128+N for signal N', () => {
  assert.equal(exitStatus(3, null), 3);
  assert.equal(exitStatus(null, 'SIGKILL'), 137);
  assert.equal(exitStatus(null, 'SIGTERM'), 143);
});

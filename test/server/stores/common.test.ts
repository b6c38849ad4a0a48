import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { KeyedQueue } from '../../../src/server/stores/common.js';

async function rejects(promise: Promise<unknown>, message: RegExp): Promise<void> {
  try {
    await promise;
  } catch (err) {
    assert.match((err as Error).message, message);
    return;
  }
  assert.unreachable('expected a rejection');
}

const later = <T>(ms: number, value: T): Promise<T> => new Promise((resolve) => setTimeout(() => resolve(value), ms));

const queue = suite('KeyedQueue runs the work of one key in call order, other keys side by side');

queue('work of one key waits for the work before it, even when that fails', async () => {
  const q = new KeyedQueue();
  const log: string[] = [];
  const first = q.run('a', async () => {
    await later(30, null);
    log.push('a1');
    throw new Error('a1 failed');
  });
  const second = q.run('a', async () => {
    log.push('a2');
    return 2;
  });
  const other = q.run('b', async () => {
    log.push('b1');
    return 'b';
  });
  await rejects(first, /a1 failed/);
  assert.is(await second, 2);
  assert.is(await other, 'b');
  assert.equal(log, ['b1', 'a1', 'a2']);
});

queue('a task that answers at once runs synchronously and holds nothing', async () => {
  const q = new KeyedQueue();
  let ran = false;
  const answer = q.run('a', () => {
    ran = true;
    return 1;
  });
  assert.ok(ran, 'ran before run() returned');
  const thrown = q.run('a', () => {
    throw new Error('sync');
  });
  await rejects(thrown, /sync/);
  assert.is(await answer, 1);
  // Nothing queued: the next one runs at once too.
  let next = false;
  void q.run('a', () => (next = true));
  assert.ok(next);
});

queue('idle() resolves once everything queued so far has settled', async () => {
  const q = new KeyedQueue();
  const done: number[] = [];
  void q.run('a', () => later(20, null).then(() => done.push(1)));
  void q.run('a', () => later(5, null).then(() => done.push(2)));
  void q.run('b', () => Promise.reject(new Error('ignored by idle'))).catch(() => undefined);
  await q.idle();
  assert.equal(done, [1, 2]);
});

queue.run();

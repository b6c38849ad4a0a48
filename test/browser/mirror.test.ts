import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { carry, continues, NOTHING, patched, rebase, strip, type Held, type Write } from '../../src/browser/mirror.js';

const held = (over: Partial<Held> = {}): Held => ({
  version: 3,
  tag: 'A',
  epoch: 100,
  data: { n: 1 },
  full: true,
  until: null,
  ...over,
});
const state = (tag: string | null, epoch: number | null, version: number) => ({ tag, epoch, version });
const write = (id: string, tag: string | null, epoch: number | null, acked?: number): Write => ({
  id,
  ops: [{ op: 'inc', path: ['n'], by: 1 }],
  tag,
  epoch,
  ...(acked === undefined ? {} : { acked }),
});

// ---

const authority = suite('the server is authoritative over what the browser holds');

authority('a later state of the same record continues it', () => {
  assert.ok(continues(held(), state('A', 100, 5), 3, false));
  assert.ok(continues(held(), state('A', 100, 3), 3, false));
});

authority('adoption: a tag where there was none, an epoch where there was none', () => {
  assert.ok(continues(NOTHING, state('B', 7, 1), 0, false));
  assert.ok(continues(held({ epoch: null }), state('A', 100, 3), 3, false));
});

authority('another tag, another epoch, or a version below the one asked about: another session', () => {
  assert.not.ok(continues(held(), state('B', 100, 9), 3, false), 'another tag without notice');
  assert.not.ok(continues(held(), state(null, null, 0), 0, false), 'a null tag after one was known');
  assert.not.ok(continues(held(), state('A', 200, 9), 3, false), 'another record of the same id');
  assert.not.ok(continues(held(), state('A', null, 0), 3, false), 'the record is gone');
  assert.not.ok(continues(held({ epoch: null }), state('A', null, 1), 3, false), 'the server forgot (a restart)');
});

authority('a version below what is held but not below what was asked is a late answer, not a new session', () => {
  assert.ok(continues(held({ version: 6 }), state('A', 100, 4), 4, false));
});

authority('after regenerated, a new tag is the same session moved', () => {
  assert.ok(continues(held(), state('B', 300, 1), 3, true));
  assert.not.ok(continues(held(), state(null, null, 0), 3, true));
});

authority.run();

// ---

const owners = suite('a pending write goes only into the session it was made in');

owners('writes of the session held go on, re-owned by the new epoch', () => {
  const kept = carry([write('m', 'A', null)], held({ epoch: null }), state('A', 100, 3), 3, false);
  assert.equal(
    kept.map((w) => [w.id, w.tag, w.epoch]),
    [['m', 'A', 100]],
  );
});

owners('writes made before any tag go into the first tag adopted, and belong to it from then on', () => {
  const kept = carry([write('m', null, null)], NOTHING, state('B', 5, 0), 0, false);
  assert.equal(
    kept.map((w) => [w.tag, w.epoch]),
    [['B', 5]],
  );
});

owners('another tag, a null tag after one was known, another epoch: the writes are dropped', () => {
  assert.equal(carry([write('m', 'A', 100)], held(), state('B', 1, 0), 0, false), []);
  assert.equal(carry([write('m', 'A', 100)], held(), state(null, null, 0), 0, false), []);
  assert.equal(carry([write('m', 'A', 100)], held(), state('A', 200, 0), 0, false), []);
  assert.equal(carry([write('m', 'A', 100)], held({ version: 8 }), state('A', 100, 2), 8, false), []);
});

owners('after regenerated the writes move along; acknowledged ones stay behind', () => {
  const kept = carry([write('m', 'A', 100), write('n', 'A', 100, 3)], held(), state('B', 300, 1), 3, true);
  assert.equal(
    kept.map((w) => [w.id, w.tag, w.epoch]),
    [['m', 'B', 300]],
  );
});

owners.run();

// ---

const rebasing = suite('the visible data is the server state with the pending writes re-applied');

rebasing('an increment adds to whatever the server holds now', () => {
  assert.equal(rebase({ n: 10 }, [write('m', 'A', 1)]).data, { n: 11 });
  assert.equal(rebase({ n: 10 }, [write('m', 'A', 1), write('k', 'A', 1)]).data, { n: 12 });
});

rebasing('a write that no longer applies is reported, the others still apply', () => {
  const out = rebase({ n: 'text' }, [
    write('m', 'A', 1),
    { id: 'k', tag: 'A', epoch: 1, ops: [{ op: 'set', path: ['x'], value: 1 }] },
  ]);
  assert.equal(out.data, { n: 'text', x: 1 });
  assert.equal(
    out.failed.map(([w, err]) => [w.id, err.code]),
    [['m', 'invalid']],
  );
});

rebasing('a patch applies on its base only, and only to a whole copy', () => {
  const p = { version: 4, base: 3, ops: [{ op: 'set' as const, path: ['n'], value: 2 }] };
  assert.equal(patched(held(), p)?.data, { n: 2 });
  assert.is(patched(held({ version: 4 }), p)?.version, 4, 'seen already: unchanged');
  assert.is(patched(held({ version: 2 }), p), undefined, 'a gap');
  assert.is(patched(held({ full: false }), p), undefined, 'a copy with paths left out');
});

rebasing('strip leaves the excluded paths out, and returns the same object when nothing was there', () => {
  const data = { a: { b: 1, c: 2 }, list: [1] };
  assert.equal(strip(data, [['a', 'b']]), { a: { c: 2 }, list: [1] });
  assert.is(strip(data, [['zzz'], ['list', '0']]), data);
});

rebasing.run();

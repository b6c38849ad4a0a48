import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  applyOps,
  parseOps,
  parseOpsShape,
  parseMutate,
  SessionSyncError,
  type IncOp,
  type JsonObject,
  type Op,
} from '../../src/shared/index.js';

const inc = (path: string[], by: number): IncOp => ({ op: 'inc', path, by });

/** Asserts that applying `ops` to `data` throws a SessionSyncError `invalid` naming `path`. */
function invalid(data: JsonObject, ops: Op[], path: string): void {
  try {
    applyOps(data, ops);
  } catch (err) {
    assert.instance(err, SessionSyncError);
    assert.is((err as SessionSyncError).code, 'invalid');
    assert.ok((err as Error).message.includes(path), `expected "${path}" in: ${(err as Error).message}`);
    return;
  }
  assert.unreachable('applyOps accepted an invalid inc');
}

// ---

const adding = suite('inc adds to the number at a path');

adding('a missing value counts as 0, and missing parents are created', () => {
  assert.equal(applyOps({}, [inc(['views'], 1)]), { data: { views: 1 }, changed: true });
  assert.equal(applyOps({ a: 1 }, [inc(['stats', 'page', 'views'], 5)]).data, {
    a: 1,
    stats: { page: { views: 5 } },
  });
});

adding('it adds to a number already there, negative and fractional steps included', () => {
  assert.equal(applyOps({ n: 10 }, [inc(['n'], 2)]).data, { n: 12 });
  assert.equal(applyOps({ n: 10 }, [inc(['n'], -12)]).data, { n: -2 });
  assert.equal(applyOps({ n: 1 }, [inc(['n'], 0.5)]).data, { n: 1.5 });
  assert.equal(applyOps({ n: 1 }, [inc(['n'], 1), inc(['n'], 1), inc(['n'], 1)]).data, { n: 4 });
});

adding('inc by 0 of a number changes nothing: the input comes back, the version would not move', () => {
  const data = { n: 7, other: { x: 1 } };
  const out = applyOps(data, [inc(['n'], 0)]);
  assert.is(out.changed, false);
  assert.is(out.data, data);
});

adding('a non-number there is invalid, and so is a path through a primitive or an array', () => {
  invalid({ n: 'seven' }, [inc(['n'], 1)], 'session.n');
  invalid({ n: null }, [inc(['n'], 1)], 'session.n');
  invalid({ n: { deeper: 1 } }, [inc(['n'], 1)], 'session.n');
  invalid({ n: 1 }, [inc(['n', 'x'], 1)], 'session.n');
  invalid({ list: [1] }, [inc(['list', '0'], 1)], 'session.list');
});

adding('a result that is not a finite number is invalid, and so is a non-finite step', () => {
  invalid({ n: Number.MAX_VALUE }, [inc(['n'], Number.MAX_VALUE)], 'session.n');
  invalid({ n: 1 }, [inc(['n'], Infinity)], 'session.n');
  invalid({ n: 1 }, [inc(['n'], NaN)], 'session.n');
});

adding('all or nothing: a failing inc leaves the whole change unapplied, the input untouched', () => {
  const data = { a: 1, b: 'x' };
  invalid(data, [inc(['a'], 1), inc(['b'], 1)], 'session.b');
  assert.equal(data, { a: 1, b: 'x' });
});

adding.run();

// ---

const guarding = suite('the guards accept { op: "inc", path, by } and nothing looser');

guarding('a well-formed inc passes every guard that reads ops', () => {
  const ops = [inc(['views'], 1), inc(['a', 'b'], -2.5)];
  assert.equal(parseOps(ops), { ok: true, value: ops });
  assert.equal(parseOpsShape(ops), { ok: true, value: ops });
  const mutate = parseMutate({ mutation: 'm1', base: 0, ops });
  assert.ok(mutate.ok && mutate.value.ops[0]!.op === 'inc');
});

guarding('a bad by, a missing by, extra keys or a bad path are refused as invalid', () => {
  for (const [why, op] of [
    ['by a string', { op: 'inc', path: ['n'], by: '1' }],
    ['by missing', { op: 'inc', path: ['n'] }],
    ['by Infinity', { op: 'inc', path: ['n'], by: Infinity }],
    ['by NaN', { op: 'inc', path: ['n'], by: NaN }],
    ['by null', { op: 'inc', path: ['n'], by: null }],
    ['a value beside by', { op: 'inc', path: ['n'], by: 1, value: 2 }],
    ['an empty path', { op: 'inc', path: [], by: 1 }],
    ['a forbidden key', { op: 'inc', path: ['__proto__'], by: 1 }],
  ] as const) {
    const parsed = parseOps([op]);
    assert.is(parsed.ok, false, why);
    if (!parsed.ok) assert.is(parsed.code, 'invalid', why);
  }
});

guarding.run();

// ---

const concurrent = suite('concurrent increments never lose each other');

/** One writer's batches: each a list of increments of a few counters (integers, so sums are exact). */
const counter = fc.constantFrom(['a'], ['b'], ['stats', 'c']);
const batch = fc.array(
  fc.record({ path: counter, by: fc.integer({ min: -1000, max: 1000 }) }).map(({ path, by }) => inc([...path], by)),
  { minLength: 1, maxLength: 4 },
);
const writers = fc.array(fc.array(batch, { maxLength: 6 }), { minLength: 2, maxLength: 5 });

const total = (ops: IncOp[], key: string): number =>
  ops.filter((op) => op.path.at(-1) === key).reduce((sum, op) => sum + op.by, 0);
const read = (data: JsonObject, key: string): number =>
  ((key === 'c' ? (data.stats as JsonObject | undefined)?.c : data[key]) as number | undefined) ?? 0;

concurrent(
  'any interleaving of N writers’ batches sums exactly, and every mirror shows server + its own pending',
  () => {
    fc.assert(
      fc.property(
        writers.chain((ws) =>
          fc.tuple(
            fc.constant(ws),
            // The order in which the store receives the batches: each writer's own order kept.
            fc.shuffledSubarray(
              ws.flatMap((bs, w) => bs.map(() => w)),
              { minLength: ws.flat().length },
            ),
            fc.record({ a: fc.integer({ min: -50, max: 50 }), b: fc.integer({ min: -50, max: 50 }) }),
          ),
        ),
        ([ws, schedule, start]) => {
          let server: JsonObject = { ...start };
          const next = ws.map(() => 0); // the next batch of each writer to reach the store
          for (const w of schedule) {
            server = applyOps(server, ws[w]![next[w]!++]!).data;
            // Each writer's mirror shows the server state with its batches not yet stored
            // re-applied on top (as the browser rebases): they add, never overwrite.
            ws.forEach((batches, i) => {
              const pending = batches.slice(next[i]).flat();
              const shown = applyOps(server, pending).data;
              for (const key of ['a', 'b', 'c']) assert.is(read(shown, key), read(server, key) + total(pending, key));
            });
          }
          const all = ws.flat(2);
          for (const key of ['a', 'b', 'c']) {
            const initial = key === 'c' ? 0 : start[key as 'a' | 'b'];
            assert.is(read(server, key), initial + total(all, key), `counter ${key}`);
          }
        },
      ),
      { numRuns: 300 },
    );
  },
);

concurrent.run();

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { covers, getIn, toPath, type PathInput } from '../../src/shared/index.js';

/** Asserts that toPath throws a TypeError whose message matches `pattern`. */
function refuses(input: unknown, pattern: RegExp, name?: string): void {
  try {
    toPath(input as PathInput, name);
  } catch (err) {
    assert.instance(err, TypeError);
    assert.match((err as Error).message, /^session-sync: /);
    assert.match((err as Error).message, pattern);
    return;
  }
  assert.unreachable(`toPath accepted ${JSON.stringify(input)}`);
}

// ---

const parsing = suite('toPath reads dot strings and arrays of keys');

parsing('a dot string', () => {
  assert.equal(toPath('prefs.theme'), ['prefs', 'theme']);
  assert.equal(toPath('user'), ['user']);
  assert.equal(toPath('a.b.c.d'), ['a', 'b', 'c', 'd']);
});

parsing('an array of keys, kept as written (dots inside a key are not split)', () => {
  assert.equal(toPath(['prefs', 'theme']), ['prefs', 'theme']);
  assert.equal(toPath(['a.b', 'c']), ['a.b', 'c']);
});

parsing('returns a new array, never the caller one', () => {
  const input = ['a', 'b'];
  const out = toPath(input);
  assert.is.not(out, input);
  out.push('c');
  assert.equal(input, ['a', 'b']);
});

parsing.run();

// ---

const refusing = suite('toPath refuses empty, non-string and forbidden keys with a TypeError');

refusing('empty paths and empty keys', () => {
  refuses('', /empty or non-string key/);
  refuses('a..b', /empty or non-string key/);
  refuses('.a', /empty or non-string key/);
  refuses('a.', /empty or non-string key/);
  refuses([], /must be a dot string or an array of keys/);
  refuses(['a', ''], /empty or non-string key/);
});

refusing('non-string keys and inputs that are not paths', () => {
  refuses(['a', 1], /empty or non-string key/);
  refuses([null], /empty or non-string key/);
  refuses(42, /must be a dot string or an array of keys/);
  refuses(null, /must be a dot string or an array of keys/);
  refuses({ 0: 'a', length: 1 }, /must be a dot string or an array of keys/);
});

refusing('__proto__, prototype and constructor, in strings and arrays', () => {
  refuses('__proto__.polluted', /forbidden key "__proto__"/);
  refuses('a.prototype', /forbidden key "prototype"/);
  refuses(['constructor'], /forbidden key "constructor"/);
  assert.is(({} as { polluted?: unknown }).polluted, undefined);
});

refusing('the error names the option', () => {
  refuses('a..b', /^session-sync: clientWritable\[2\] has/, 'clientWritable[2]');
  refuses('constructor', /^session-sync: expose uses/, 'expose');
});

refusing.run();

// ---

const covering = suite('covers: a listed path covers itself and everything under it');

covering('equal paths and descendants', () => {
  assert.ok(covers(['prefs'], ['prefs']));
  assert.ok(covers(['prefs'], ['prefs', 'theme']));
  assert.ok(covers(['prefs'], ['prefs', 'theme', 'dark']));
  assert.ok(covers([], ['anything']));
});

covering('ancestors, siblings and prefixes of a key are not covered', () => {
  assert.not.ok(covers(['prefs', 'theme'], ['prefs']));
  assert.not.ok(covers(['prefs'], ['prefsX']));
  assert.not.ok(covers(['prefs'], ['pref']));
  assert.not.ok(covers(['prefs', 'theme'], ['prefs', 'lang']));
  assert.not.ok(covers(['a'], []));
});

covering.run();

// ---

const reading = suite('getIn reads a value through plain objects only');

reading('present values at any depth, the root for an empty path', () => {
  const data = { prefs: { theme: 'dark', list: [1, 2] }, zero: 0, nil: null };
  assert.is(getIn(data, ['prefs', 'theme']), 'dark');
  assert.equal(getIn(data, ['prefs', 'list']), [1, 2]);
  assert.is(getIn(data, ['zero']), 0);
  assert.is(getIn(data, ['nil']), null);
  assert.is(getIn(data, []), data);
});

reading('missing steps, steps through arrays and primitives give undefined', () => {
  const data = { a: { b: 1 }, list: [{ x: 1 }], s: 'text' };
  assert.is(getIn(data, ['x']), undefined);
  assert.is(getIn(data, ['a', 'c']), undefined);
  assert.is(getIn(data, ['a', 'b', 'c']), undefined);
  assert.is(getIn(data, ['list', '0']), undefined);
  assert.is(getIn(data, ['s', 'length']), undefined);
});

reading('inherited properties are never read', () => {
  const data = {};
  assert.is(getIn(data, ['toString']), undefined);
  assert.is(getIn(data, ['__proto__']), undefined);
  assert.is(getIn(data, ['constructor', 'name']), undefined);
});

reading.run();

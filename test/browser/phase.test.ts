import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { statusOf, TRANSITIONS, type Event, type Name } from '../../src/browser/phase.js';

const next = (from: Name, e: Event): Name | undefined => TRANSITIONS[e][from];

// ---

const lifecycle = suite('the lifecycle is one phase, changed only through the transition table');

lifecycle('a first page: fetching, the GET answers, the socket says hello, live', () => {
  assert.is(next('fetching', 'got'), 'cached');
  assert.is(next('cached', 'hello'), 'syncing');
  assert.is(next('syncing', 'hello'), undefined, 'one hello at a time');
  assert.is(next('syncing', 'answered'), 'live');
  assert.is(next('live', 'lost'), undefined, 'a failed GET does not matter while the socket is live');
});

lifecycle('unreachable, refused and reconnecting', () => {
  assert.is(next('fetching', 'lost'), 'offline');
  assert.is(next('live', 'dropped'), 'offline');
  assert.is(next('offline', 'hello'), 'syncing');
  assert.is(next('syncing', 'refused'), 'error');
  assert.is(next('error', 'dropped'), 'offline');
});

lifecycle('regenerated: renewing survives the reconnect and its hello, then live', () => {
  assert.is(next('live', 'regenerated'), 'renewing');
  assert.is(next('renewing', 'dropped'), undefined);
  assert.is(next('renewing', 'hello'), 'renewing');
  assert.is(next('renewing', 'answered'), 'live');
});

lifecycle('refused with ended: the notice decides; wiping comes before ended; refresh leaves it', () => {
  assert.is(next('live', 'doomed'), 'ending');
  assert.is(next('ending', 'dropped'), undefined, 'the server disconnects: still waiting for the notice');
  assert.is(next('ending', 'regenerated'), 'renewing');
  assert.is(next('ending', 'end'), 'wiping');
  assert.is(next('wiping', 'regenerated'), undefined);
  assert.is(next('wiping', 'wiped'), 'ended');
  assert.is(next('ended', 'hello'), undefined);
  assert.is(next('ended', 'refresh'), 'fetching');
});

lifecycle('closed and server phases hear nothing', () => {
  for (const e of Object.keys(TRANSITIONS) as Event[]) {
    assert.is(next('closed', e), undefined, `closed + ${e}`);
    if (e !== 'close') assert.is(next('server', e), undefined, `server + ${e}`);
  }
});

lifecycle.run();

// ---

const status = suite('the status is derived from the phase');

status('loading until data is known, and never again after', () => {
  assert.is(statusOf('fetching', false, false, 'loading'), 'loading');
  assert.is(statusOf('fetching', true, false, 'loading'), 'cached');
  assert.is(statusOf('offline', false, false, 'loading'), 'offline');
  assert.is(statusOf('server', true, false, 'loading'), 'loading', 'a server render is loading, initial or not');
});

status('passing phases keep what was shown; renewing is live; socket: false is live once the GET answered', () => {
  assert.is(statusOf('syncing', true, false, 'offline'), 'offline');
  assert.is(statusOf('ending', true, false, 'live'), 'live');
  assert.is(statusOf('wiping', true, false, 'live'), 'live');
  assert.is(statusOf('renewing', true, false, 'live'), 'live');
  assert.is(statusOf('cached', true, true, 'cached'), 'live');
  assert.is(statusOf('cached', true, false, 'cached'), 'cached');
  assert.is(statusOf('ended', true, false, 'live'), 'ended');
});

status.run();

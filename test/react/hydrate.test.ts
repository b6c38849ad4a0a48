import '../setup/env.js';
import { act, createElement } from 'react';
import { hydrateRoot } from 'react-dom/client';
import { renderToString } from 'react-dom/server';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Session } from '../../src/browser/index.js';
import { useSession, useSessionStatus } from '../../src/react/index.js';
import { cleanup, fakeRoute, open, until } from '../support/fake-route.js';

let count = 0;
const unique = (): string => `hydrate-test-${process.pid}-${count++}`;
type Prefs = { prefs?: { theme?: string } };

function Theme({ of }: { of: Session<Prefs> }) {
  const theme = useSession(of, (d) => d.prefs?.theme ?? 'light');
  return createElement('p', null, `${theme} ${useSessionStatus(of)}`);
}

// ---

const hydration = suite('a server-rendered page hydrates with the data it was rendered with, then follows the mirror');
hydration.after.each(cleanup);

hydration('no mismatch although the cache is newer than initial; the newer data shows right after', async () => {
  const name = unique();
  const initial = { version: 3, tag: 'T', epoch: 1, expiresIn: 60_000, data: { prefs: { theme: 'dark' } } };
  // A tab of this browser cached a newer version of the session already.
  const route = fakeRoute({ ...initial, version: 9, data: { prefs: { theme: 'ocean' } } });
  const earlier = open<Prefs>({ fetch: route.fetch, socket: false, name, channel: false });
  await until(() => earlier.version === 9, 'the cache written');
  earlier.close();

  route.offline = true;
  const s = open<Prefs>({ initial, fetch: route.fetch, socket: false, name, channel: false });
  await until(() => s.version === 9 && s.status === 'offline', 'the cache read');
  // What the server sent: rendered from the same initial (the server's instance is 'loading').
  const el = document.createElement('div');
  el.innerHTML = '<p>dark loading</p>';
  document.body.append(el);
  const problems: unknown[] = [];
  const errors: unknown[] = [];
  const consoleError = console.error;
  console.error = (...args: unknown[]) => void errors.push(args);
  try {
    let root: ReturnType<typeof hydrateRoot> | undefined;
    await act(async () => {
      root = hydrateRoot(el, createElement(Theme, { of: s }), { onRecoverableError: (e) => problems.push(e) });
    });
    assert.equal(problems, [], 'no hydration mismatch');
    assert.equal(errors, []);
    assert.is(el.textContent, 'ocean offline', 'then the mirror’s own data and status');
    await act(async () => root!.unmount());
  } finally {
    console.error = consoleError;
    el.remove();
  }
});

hydration('renderToString of the hooks reads the starting data (the same in jsdom as on a server)', () => {
  const initial = { version: 3, tag: 'T', epoch: 1, expiresIn: 60_000, data: { prefs: { theme: 'dark' } } };
  const s = open<Prefs>({ initial, fetch: fakeRoute(initial).fetch, socket: false, name: unique(), channel: false });
  assert.is(renderToString(createElement(Theme, { of: s })), '<p>dark loading</p>');
});

hydration.run();

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const root = fileURLToPath(new URL('../..', import.meta.url));

// ---

const server = suite('rendered on a server (Node, no window), a session does no I/O and renders');

server('createSession and the default session, then React renderToString; the process then exits by itself', () => {
  // A process of its own: the other tests of this group run with jsdom's window installed.
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'test/react/server-render.ts'], {
    cwd: root,
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.is(run.error, undefined, 'it exited by itself: no socket, timer or channel left open');
  assert.is(run.status, 0, run.stderr);
  assert.is(run.stderr, '', 'no warning (no IndexedDB is expected on a server)');
  const seen = JSON.parse(run.stdout);
  assert.equal(seen.bare, { data: {}, status: 'loading', tag: null, pending: 0, persistent: false });
  assert.equal(seen.visitor, {
    data: { prefs: { theme: 'dark' } },
    status: 'loading',
    version: 3,
    ready: { prefs: { theme: 'dark' } },
    server: true,
    subscribed: [{ prefs: { theme: 'dark' } }],
  });
  assert.is(seen.write, 'forbidden', 'a server instance is read-only');
  assert.equal(seen.after, { prefs: { theme: 'dark' } });
  assert.equal(seen.default, { data: {}, status: 'loading' });
  assert.is(seen.react, '<p>dark loading</p>');
  assert.is(seen.reactDefault, '<p>{} loading</p>');
});

server.run();

/**
 * Data planted before sign-in, on MemoryStore and on RedisStore with two nodes: an attacker
 * plants an id, writes a server-only CSRF token (and visible data) under it, and the victim
 * signs in with `regenerate()`. By default (`keep: 'exposed'`) the new session holds none of
 * the server-only data, so a forged POST with the planted token fails; `keep: true`, `false`
 * and a list of paths do what they say.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { PROTOCOL_VERSION } from '../../../src/shared/index.js';
import {
  ask,
  assertNoRecord as noRecord,
  listen,
  planted,
  post,
  startScene,
  stopTestRedis,
  until,
  type Kind,
  type Scene,
} from '../../support/lifecycle.js';
import type { Jar } from '../../support/http.js';

const KINDS: Kind[] = ['memory', 'redis'];
const where = (kind: Kind): string => (kind === 'memory' ? 'MemoryStore' : 'RedisStore, two nodes');

for (const kind of KINDS) {
  const fixation = suite(`${where(kind)}: data planted before sign-in`);

  /** The attacker plants an id with a known CSRF token and visible data, then the victim signs in. */
  async function signedIn(
    s: Scene,
    keep?: string,
  ): Promise<{ victim: Jar; attacker: Jar; old: string; fresh: string }> {
    const { attacker, victim, id: old } = await planted(s);
    await attacker.fetch(`${s.b.url}/csrf`, post({ token: 'known-to-the-attacker' }));
    await attacker.fetch(`${s.b.url}/write`, post({ prefs: { theme: 'evil' }, note: 'planted' }));
    const path = keep === undefined ? '/login' : `/login?keep=${encodeURIComponent(keep)}`;
    const res = await victim.fetch(`${s.a.url}${path}`, post({ user: 'victim' }));
    assert.is(res.status, 200, await res.clone().text());
    return { victim, attacker, old, fresh: victim.id()! };
  }

  fixation('by default the new session holds none of the server-only data: the planted CSRF token fails', async () => {
    const s = await startScene(kind);
    try {
      const { victim, old, fresh } = await signedIn(s);
      assert.is.not(fresh, old);
      const data = (await s.b.sync.get(fresh))!.data;
      assert.equal(
        data,
        { prefs: { theme: 'evil' }, note: 'planted', user: { id: 'victim' } },
        'visible data is kept, by design',
      );
      assert.not.ok('_csrf' in data, 'the planted server-only token is gone');
      const forged = await victim.fetch(`${s.b.url}/transfer`, post({ token: 'known-to-the-attacker' }));
      assert.is(forged.status, 403, 'a forged same-site POST with the planted token fails as the victim');
      await noRecord(s, old, 'the planted id is gone');
    } finally {
      await s.close();
    }
  });

  fixation('keep: true, false, a list of paths, and a bad keep', async () => {
    const s = await startScene(kind);
    try {
      const all = await signedIn(s, 'true');
      assert.equal((await s.a.sync.get(all.fresh))!.data, {
        _csrf: 'known-to-the-attacker',
        prefs: { theme: 'evil' },
        note: 'planted',
        user: { id: 'victim' },
      });
      const none = await signedIn(s, 'false');
      assert.equal((await s.a.sync.get(none.fresh))!.data, { user: { id: 'victim' } });
      const listed = await signedIn(s, JSON.stringify(['prefs.theme', '_csrf', 'missing.path']));
      assert.equal((await s.a.sync.get(listed.fresh))!.data, {
        prefs: { theme: 'evil' },
        _csrf: 'known-to-the-attacker',
        user: { id: 'victim' },
      });
      // A bad keep throws before anything changes: the old session is intact.
      const { victim, id: old } = await planted(s);
      await victim.fetch(`${s.a.url}/write`, post({ a: 1 }));
      const bad = await victim.fetch(
        `${s.a.url}/login?keep=${encodeURIComponent('"everything"')}`,
        post({ user: 'v' }),
      );
      assert.is(bad.status, 500);
      assert.match((await bad.json()).error, /keep/);
      assert.is(victim.id(), old);
      assert.equal((await s.b.sync.get(old))!.data, { a: 1 });
    } finally {
      await s.close();
    }
  });

  fixation('with a function expose, the default keeps the top-level keys that do not start with _', async () => {
    const s = await startScene(kind, { options: { expose: (d) => ({ prefs: d.prefs ?? null }) } });
    try {
      const { fresh } = await signedIn(s);
      assert.equal((await s.a.sync.get(fresh))!.data, {
        prefs: { theme: 'evil' },
        note: 'planted',
        user: { id: 'victim' },
      });
    } finally {
      await s.close();
    }
  });

  fixation('the old id’s hello after sign-in is answered ended, never with the new data', async () => {
    const s = await startScene(kind, { mount: 'use' });
    try {
      const { attacker, old, fresh } = await signedIn(s);
      const socket = await s.connect(s.b, attacker.clone());
      const told = listen(socket);
      const hello = await ask(socket, 'session:hello', { protocol: PROTOCOL_VERSION });
      assert.equal([hello.ok, hello.code], [false, 'ended']);
      assert.equal(await told.ended, { reason: 'regenerated' });
      await until(() => !socket.connected, 'the dead socket to be closed');
      assert.ok(!told.log.some((line) => line.includes('victim')), 'nothing of the new session reached it');
      assert.ok((await s.a.sync.get(fresh))!.data.user);
      await noRecord(s, old, 'no record under the old id');
    } finally {
      await s.close();
    }
  });

  fixation.run();
}

const done = suite('cleanup');
done('the test Redis stops', async () => stopTestRedis());
done.run();

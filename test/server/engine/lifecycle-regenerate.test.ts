/**
 * Writes racing sign-in (`regenerate()`) under the old (planted) id, on MemoryStore and on
 * RedisStore with two nodes (data planted before sign-in: ./lifecycle-fixation.test.ts).
 * The old id is dead from the moment `regenerate()` resolves: a racing write is refused with
 * `ended` or lands in the new session, never acknowledged and lost, and the planted id never
 * gets a record again.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ask,
  listen,
  mutate,
  post,
  sleep,
  startScene,
  stopTestRedis,
  until,
  planted,
  assertNoRecord as noRecord,
  type Kind,
} from '../../support/lifecycle.js';

const KINDS: Kind[] = ['memory', 'redis'];
const where = (kind: Kind): string => (kind === 'memory' ? 'MemoryStore' : 'RedisStore, two nodes');

// ---

for (const kind of KINDS) {
  const race = suite(`${where(kind)}: writes racing regenerate() are refused or reach the new session, never lost`);

  race(
    'a planted id with a record: a socket mutate and an HTTP write in the window are refused with ended',
    async () => {
      const s = await startScene(kind, { options: { clientWritable: ['prefs'] } });
      try {
        const { victim, id: old } = await planted(s);
        await victim.fetch(`${s.a.url}/write`, post({ prefs: { theme: 'dark' } }));
        assert.is(victim.id(), old, 'the first write adopted the planted id');
        const socket = await s.connect(s.b, victim.clone());
        const told = listen(socket);
        assert.ok((await mutate(socket, 'before', [{ op: 'set', path: ['prefs', 'before'], value: 1 }])).ok);
        // An HTTP request of the old session that has read it and waits (an upload).
        const slow = victim.clone();
        const reached = s.gates.arrived('late-http');
        const late = slow.fetch(`${s.b.url}/slow-write/late-http`, post({ late: 'http' }));
        await reached;

        const arrived = s.gates.arrived('login');
        const login = victim.fetch(`${s.a.url}/login?gate=login`, post({ user: 'victim' }));
        await arrived; // regenerate() has resolved: the old id is dead from here on
        const inWindow = await mutate(socket, 'in-window', [{ op: 'set', path: ['prefs', 'window'], value: 1 }]);
        s.gates.open('late-http');
        const http = await late;
        s.gates.open('login');
        assert.is((await login).status, 200);
        const fresh = victim.id()!;
        assert.is.not(fresh, old);

        assert.equal([inWindow.ok, inWindow.code], [false, 'ended'], 'the socket write in the window is refused');
        assert.is(http.status, 410, 'the HTTP write of a request that read the old session is refused');
        assert.is((await http.json()).code, 'ended');
        assert.equal((await told.ended).reason, 'regenerated');
        const now = await s.a.sync.get(fresh);
        assert.equal(now!.data, { prefs: { theme: 'dark', before: 1 }, user: { id: 'victim' } });
        await sleep(150); // any late write would have landed by now
        await noRecord(s, old, 'the planted id has no record on any node');
      } finally {
        await s.close();
      }
    },
  );

  race(
    'a planted id without a record (sign-in is the first write): a write in the window never revives it',
    async () => {
      const s = await startScene(kind, { options: { clientWritable: ['prefs'] } });
      try {
        const { victim, id: old } = await planted(s);
        // The victim's tab: its socket holds the planted id, which has no record yet.
        const socket = await s.connect(s.b, victim.clone());
        const told = listen(socket);
        const arrived = s.gates.arrived('login');
        const login = victim.fetch(`${s.a.url}/login?gate=login`, post({ user: 'victim' }));
        await arrived;
        const inWindow = await mutate(socket, 'in-window', [{ op: 'set', path: ['prefs', 'theme'], value: 'dark' }]);
        // A second tab's request with the old cookie, which loaded no record.
        const tab = victim.clone();
        const http = await tab.fetch(`${s.b.url}/write`, post({ tab: 2 }));
        s.gates.open('login');
        assert.is((await login).status, 200);
        const fresh = victim.id()!;
        assert.equal((await told.ended).reason, 'regenerated');
        const mine = await s.a.sync.get(fresh);
        // Acknowledged means stored where the victim's session is: the new one.
        if (inWindow.ok)
          assert.equal(
            (mine!.data.prefs as { theme?: string })?.theme,
            'dark',
            'an acknowledged write is in the new session',
          );
        else assert.is(inWindow.code, 'ended');
        assert.is(http.status, 200, 'a request that loaded no record starts a fresh session');
        assert.is.not(tab.id(), old, 'under a new id and cookie');
        await noRecord(s, old, 'the planted id got no record');
        assert.is(
          inWindow.ok,
          false,
          'the socket write in the window is refused (the browser replays it after the notice)',
        );
      } finally {
        await s.close();
      }
    },
  );

  race('a burst of socket mutations and HTTP writes across the sign-in: every acknowledged one is kept', async () => {
    const s = await startScene(kind, { options: { clientWritable: ['prefs'], limits: { rate: 1e6, burst: 1e6 } } });
    try {
      const { victim, id: old } = await planted(s);
      await victim.fetch(`${s.a.url}/write`, post({ prefs: { start: 1 } }));
      const sockets = [await s.connect(s.a, victim.clone()), await s.connect(s.b, victim.clone())];
      // Every acknowledged write, with the id it was acknowledged under (the HTTP response's).
      const acked: { key: string; id: string }[] = [];
      const refused: string[] = [];
      let stop = false;
      const writer = async (i: number): Promise<void> => {
        for (let n = 0; !stop; n++) {
          const key = `s${i}n${n}`;
          const answer = await mutate(sockets[i]!, key, [{ op: 'set', path: ['prefs', key], value: n }]).catch(() => ({
            ok: false,
            code: 'disconnected',
          }));
          if (!answer.ok) return void refused.push(`${key}: ${answer.code}`);
          acked.push({ key, id: old });
        }
      };
      const httpWriter = async (i: number): Promise<void> => {
        const jar = victim.clone();
        for (let n = 0; !stop; n++) {
          const key = `h${i}n${n}`;
          const res = await jar.fetch(
            `${s.nodes[i % s.nodes.length]!.url}/slow-write/none-${i}-${n}`,
            post({ [key]: n }),
          );
          const body = await res.json();
          if (res.status !== 200) {
            assert.is(body.code, 'ended', `HTTP ${res.status}: ${body.error}`);
            return void refused.push(`${key}: ended`);
          }
          acked.push({ key, id: body.id });
          // A request that loaded no record (the old id already dead) starts a fresh session.
          if (body.id !== old) return;
        }
      };
      // Open every slow-write gate at once (they only order the request's read before its write).
      const gates = s.gates;
      const opener = setInterval(() => {
        for (let i = 0; i < 2; i++) for (let n = 0; n < 500; n++) gates.open(`none-${i}-${n}`);
      }, 1);
      const writers = [writer(0), writer(1), httpWriter(0), httpWriter(1)];
      await until(() => acked.length >= 12, 'writes acknowledged before the sign-in');
      const login = await victim.fetch(`${s.a.url}/login`, post({ user: 'victim' }));
      assert.is(login.status, 200);
      await sleep(30);
      stop = true;
      await Promise.all(writers);
      clearInterval(opener);
      const fresh = (await s.a.sync.get(victim.id()!))!;
      const lost: string[] = [];
      for (const { key, id } of acked) {
        // Under the old id: the sign-in took it along (visible data is kept by default).
        const data = id === old ? fresh.data : (await s.b.sync.get(id))?.data;
        const holds = key.startsWith('s') ? key in ((data?.prefs as object) ?? {}) : key in (data ?? {});
        if (!holds) lost.push(`${key} (acknowledged under ${id === old ? 'the old id' : 'a fresh id'})`);
      }
      assert.equal(lost, [], 'no acknowledged write is lost');
      assert.ok(acked.length >= 12, `writes were acknowledged before the sign-in (${acked.length})`);
      assert.ok(refused.length > 0, 'writes after it were refused');
      await sleep(100);
      await noRecord(s, old, 'the planted id has no record');
      console.log(
        `  lifecycle (${where(kind)}): sign-in under a write burst: ${acked.length} acknowledged, all in the new session; ${refused.length} refused with ended`,
      );
    } finally {
      await s.close();
    }
  });

  race('after sign-in the planted cookie starts nothing: HTTP gets a fresh id, a socket is told ended', async () => {
    const s = await startScene(kind, { options: { clientWritable: ['prefs'] } });
    const bare = await startScene(kind, { mount: 'use', options: { clientWritable: ['prefs'] } });
    try {
      for (const scene of [s, bare]) {
        const { attacker, victim, id: old } = await planted(scene);
        assert.is((await victim.fetch(`${scene.a.url}/login`, post({ user: 'victim' }))).status, 200);
        const http = await attacker.clone().json(`${scene.b.url}/write`, post({ evil: 1 }));
        assert.is.not(http.id, old, 'an HTTP write with the planted cookie goes to a fresh id');
        const socket = await scene.connect(scene.b, attacker.clone());
        const told = listen(socket);
        const answer = await mutate(socket, 'evil', [{ op: 'set', path: ['prefs', 'evil'], value: 1 }]);
        if (scene === bare) {
          assert.equal([answer.ok, answer.code], [false, 'ended'], 'io.use(): the dead id is refused');
          assert.equal(await told.ended, { reason: 'regenerated' }, 'then told why');
        } else {
          const me = await ask(socket, 'test:whoami');
          assert.is.not(me.id, old, 'attach(io): the handshake moved the socket to a fresh id');
          assert.ok(answer.ok);
        }
        await noRecord(scene, old, 'the planted id has no record');
      }
    } finally {
      await s.close();
      await bare.close();
    }
  });

  race.run();
}

const done = suite('cleanup');
done('the test Redis stops', async () => stopTestRedis());
done.run();

/**
 * The seed package's README (express-session-synchronize-socket.io) run nearly verbatim
 * against session-sync: the same factory, `session.express()`, `req.session.val`,
 * `req.session.synchronize({ model, target })`, `express({}, 'data')` — but one session
 * per visitor instead of one global object.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import exp from 'express';
import { Server as IOServer } from 'socket.io';
import { io as connect, type Socket } from 'socket.io-client';
import sessionSync from '../../src/server/index.js';
import { Jar, serve } from '../support/http.js';

const dir = mkdtempSync(join(tmpdir(), 'session-sync-seed-'));
writeFileSync(join(dir, 'index.html'), '<html><body><main><h1>Lorem Ipsum</h1></main></body></html>');

// The seed runs without a secret; session-sync then warns once (not a failure).
const quiet = <T>(fn: () => T): T => {
  const warn = console.warn;
  console.warn = () => {};
  try {
    return fn();
  } finally {
    console.warn = warn;
  }
};

/** Connects a socket.io-client with a visitor's cookies, resolves once connected. */
function socketOf(url: string, jar: Jar): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(url, {
      transports: ['websocket'],
      extraHeaders: { cookie: jar.header },
      reconnection: false,
    });
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

/** The README's server.js, with the key and the seed factory's arguments as parameters. */
async function seedServer(key: 'val' | 'data', ...factoryArgs: unknown[]) {
  const app = exp();
  // The seed calls http.Server without `new`, which Node allows and its types do not.
  const server = (http.Server as unknown as (app: unknown) => http.Server)(app);
  const session = quiet(() => (sessionSync as (...args: unknown[]) => ReturnType<typeof sessionSync>)(...factoryArgs));
  const io = new IOServer(server);
  const fromHttp: unknown[] = [];
  const fromTcp: unknown[] = [];

  app.use(key === 'val' ? session.express(/* default value session optional */) : session.express({}, 'data'));

  app.get('/', (req, res) => {
    const val = (req.session as unknown as Record<string, Record<string, unknown>>)[key]!; // session HTTP access

    if (!val.id) {
      (req.session as unknown as Record<string, Record<string, unknown>>)[key]!.id = Math.random(); // define one key id for current session

      // manual synchronize session with tcp store
      void req.session.synchronize({
        model: 'http',
        target: 'tcp',
      });
    }

    fromHttp.push(val.id); // console.log('from HTTP: ', val.id)

    res.sendFile('./index.html', { root: dir });
  });

  io.use(key === 'val' ? session.socketIO(/* default value session optional */) : session.socketIO({}, 'data'));

  io.on('connect', (socket) => {
    const val = (socket as unknown as { session: Record<string, Record<string, unknown>> }).session[key]!;

    // 0.xxx... , after request on "/" , because HTTP controller have synchronize memory store
    fromTcp.push(val.id); // console.log('from TCP: ', val.id)
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url,
    session,
    fromHttp,
    fromTcp,
    close: async () => {
      io.disconnectSockets(true);
      await new Promise<void>((resolve) => io.close(() => resolve()));
      server.closeAllConnections();
      await session.close();
    },
  };
}

// ---

const readme = suite('the seed README’s server code runs, one session per visitor');

for (const key of ['val', 'data'] as const) {
  readme(`req.session.${key} set on "/" is seen by that visitor's socket, and no one else's`, async () => {
    const s = await seedServer(key);
    const sockets: Socket[] = [];
    try {
      const ann = new Jar(s.url);
      const bob = new Jar(s.url);
      const page = await ann.text('/');
      assert.is(page.status, 200);
      assert.match(page.body, 'Lorem Ipsum');
      await ann.fetch('/'); // the second visit finds the id already there
      assert.is(s.fromHttp.length, 2);
      assert.type(s.fromHttp[0], 'number');
      assert.is(s.fromHttp[1], s.fromHttp[0], 'same visitor, same id');
      await bob.fetch('/');
      assert.is.not(s.fromHttp[2], s.fromHttp[0], 'another visitor has another session (the seed shared one)');

      sockets.push(await socketOf(s.url, ann));
      sockets.push(await socketOf(s.url, bob));
      sockets.push(await socketOf(s.url, new Jar(s.url)));
      assert.equal(s.fromTcp, [s.fromHttp[0], s.fromHttp[2], undefined]);

      const route = await ann.json('/get/session');
      assert.equal(route.data, { id: s.fromHttp[0] }, 'GET /get/session returns the visitor’s session');
    } finally {
      for (const socket of sockets) socket.disconnect();
      await s.close();
    }
  });
}

readme.run();

// ---

const factory = suite('the seed factory forms');

factory('() serves /get/session and commits by itself', async () => {
  const s = await seedServer('val');
  try {
    const ann = new Jar(s.url);
    await ann.fetch('/');
    assert.is((await ann.json('/get/session')).version, 1);
  } finally {
    await s.close();
  }
});

factory("('/get/session', true) is the same as ()", async () => {
  const s = await seedServer('val', '/get/session', true);
  try {
    const ann = new Jar(s.url);
    await ann.fetch('/');
    assert.equal((await ann.json('/get/session')).data, { id: s.fromHttp[0] });
  } finally {
    await s.close();
  }
});

factory("('/my/session') moves the route", async () => {
  const s = await seedServer('val', '/my/session');
  try {
    const ann = new Jar(s.url);
    await ann.fetch('/');
    assert.equal((await ann.json('/my/session')).data, { id: s.fromHttp[0] });
    assert.is((await ann.fetch('/get/session')).status, 404);
  } finally {
    await s.close();
  }
});

factory('(null, false): no route, and only synchronize() commits (the README handler calls it)', async () => {
  const s = await seedServer('val', null, false);
  try {
    const ann = new Jar(s.url);
    await ann.fetch('/');
    await ann.fetch('/');
    assert.is(s.fromHttp[1], s.fromHttp[0], 'synchronize() committed the id');
    assert.is((await ann.fetch('/get/session')).status, 404);
  } finally {
    await s.close();
  }
});

factory('(false) turns the route off too', async () => {
  const s = await seedServer('val', false);
  try {
    assert.is((await new Jar(s.url).fetch('/get/session')).status, 404);
  } finally {
    await s.close();
  }
});

factory('(options) is the modern form', async () => {
  const s = await seedServer('val', { secret: 'a test secret that is long enough!!', route: '/me' });
  try {
    const ann = new Jar(s.url);
    await ann.fetch('/');
    assert.equal((await ann.json('/me')).data, { id: s.fromHttp[0] });
  } finally {
    await s.close();
  }
});

factory('the default export is the factory, with the named exports beside it', async () => {
  const mod = await import('../../src/server/index.js');
  assert.is(mod.default, mod.createSessionSync);
  assert.type(mod.MemoryStore, 'function');
});

factory.run();

// ---

const normalize = suite('synchronize({ model, target }) accepts the seed’s names');

normalize(
  'http, https, http2, exp, express, app and tcp, tcp/ip, udp, socket, socket.io (any case) are accepted; others are a TypeError',
  async () => {
    const accepted: string[] = [];
    const refused: string[] = [];
    const names = ['http', 'https', 'http2', 'exp', 'express', 'app', 'tcp', 'tcp/ip', 'udp', 'socket', 'socket.io'];
    const cased = ['HTTPs', 'Http2', 'UDP', 'tcp/IP', 'Socket'];
    const bad = ['ftp', 'websocket2', '', 'smtp', 'httpx'];
    const sync = quiet(() => sessionSync());
    const app = exp();
    app.use(sync.express());
    app.get('/', async (req, res) => {
      for (const model of [...names, ...cased, ...bad]) {
        for (const options of [
          { model, target: 'tcp' },
          { model: 'http', target: model },
        ]) {
          try {
            req.session.val.last = model;
            await req.session.synchronize(options);
            accepted.push(model);
          } catch (err) {
            assert.instance(err, TypeError);
            refused.push(model);
          }
        }
      }
      res.end();
    });
    const served = await serve(app);
    try {
      const ann = new Jar(served.url);
      await ann.fetch('/');
      assert.equal([...new Set(accepted)], [...names, ...cased]);
      assert.equal([...new Set(refused)], bad);
    } finally {
      await served.close();
      await sync.close();
    }
  },
);

normalize.run();

// ---

const cleanup = suite('cleanup');
cleanup('temp files removed', () => rmSync(dir, { recursive: true, force: true }));
cleanup.run();

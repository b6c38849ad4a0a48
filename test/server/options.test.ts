import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createSessionSync, MemoryStore, type SessionSyncOptions } from '../../src/server/index.js';
import { startApp } from '../support/http.js';

const secret = 'a test secret that is long enough!!';

/** Asserts that the options throw a TypeError whose message names `name`, at once. */
function throwsNaming(options: unknown, name: string): void {
  let thrown: unknown;
  try {
    createSessionSync(options as SessionSyncOptions);
  } catch (err) {
    thrown = err;
  }
  assert.instance(thrown, TypeError, `${name}: expected a TypeError`);
  assert.ok((thrown as Error).message.includes(name), `${name}: ${(thrown as Error).message}`);
  assert.ok((thrown as Error).message.startsWith('session-sync:'), (thrown as Error).message);
}

/** Prints of console.warn while `fn` runs. */
function warnings(fn: () => void): string[] {
  const warn = console.warn;
  const printed: string[] = [];
  console.warn = (...args: unknown[]) => void printed.push(args.join(' '));
  try {
    fn();
  } finally {
    console.warn = warn;
  }
  return printed;
}

// ---

const bad = suite('every bad option throws a TypeError naming it, when the factory is called');

const cases: [string, Record<string, unknown>][] = [
  ['secret', { secret: '' }],
  ['secret', { secret: [] }],
  ['secret', { secret: [''] }],
  ['secret', { secret: ['ok but short', 5] }],
  ['secret', { secret: 42 }],
  ['store', { store: {} }],
  ['store', { store: { get() {} } }],
  ['route', { route: 5 }],
  ['route', { route: 'no-leading-slash' }],
  ['route', { route: true }],
  ['autoSync', { autoSync: 'yes' }],
  ['key', { key: '' }],
  ['key', { key: 5 }],
  ['key', { key: 'id' }],
  ['key', { key: 'destroy' }],
  ['key', { key: 'regenerate' }],
  ['key', { key: 'synchronize' }],
  ['key', { key: 'toJSON' }],
  ['key', { key: '__proto__' }],
  ['key', { key: 'constructor' }],
  ['key', { key: 'draft' }],
  ['defaults', { defaults: 5 }],
  ['defaults', { defaults: [] }],
  ['defaults', { defaults: { when: new Date() } }],
  ['cookie', { cookie: 5 }],
  ['cookie.name', { cookie: { name: 'has space' } }],
  ['cookie.sameSite', { cookie: { sameSite: 'x' } }],
  ['cookie.secure', { cookie: { secure: 'yes' } }],
  ['cookie.httpOnly', { cookie: { httpOnly: 'no' } }],
  ['cookie.path', { cookie: { path: 'relative' } }],
  ['cookie.domain', { cookie: { domain: 5 } }],
  ['cookie.maxAge', { cookie: { maxAge: -1 } }],
  ['cookie.sameSite', { cookie: { sameSite: 'none', secure: false } }],
  ['cookie.expires', { cookie: { expires: new Date() } }],
  ['ttl', { ttl: -1 }],
  ['ttl', { ttl: 0 }],
  ['ttl', { ttl: NaN }],
  ['ttl', { ttl: '1h' }],
  ['absolute', { absolute: Infinity }],
  ['trustProxy', { trustProxy: 'yes' }],
  ['expose', { expose: 5 }],
  ['expose', { expose: 'user' }],
  ['expose[0]', { expose: ['__proto__.x'] }],
  ['clientWritable', { clientWritable: 5 }],
  ['clientWritable.prefs', { clientWritable: { prefs: 5 } }],
  ['clientWritable[1]', { clientWritable: ['ok', 5] }],
  ['origins', { origins: 'x' }],
  ['origins[0]', { origins: [5] }],
  ['origins[1]', { origins: ['https://ok.example', 'not a url'] }],
  ['limits', { limits: 5 }],
  ['limits.depth', { limits: { depth: 0 } }],
  ['limits.size', { limits: { size: 1.5 } }],
  ['limits.nope', { limits: { nope: 1 } }],
  ['user', { user: 5 }],
  ['user', { user: '' }],
  ['sessionSecret', { sessionSecret: 'typo' }],
];

for (const [name, options] of cases) {
  bad(`${name}: ${JSON.stringify(options, (_k, v) => (v instanceof Date ? 'a Date' : v))}`, () => {
    throwsNaming({ secret, ...options }, name);
  });
}

bad('options that are not an object are refused', () => {
  for (const options of [5, true, [], new Map()]) {
    assert.throws(() => createSessionSync(options as never), TypeError);
  }
});

bad('the seed form’s second argument must be a boolean, and is refused beside an options object', () => {
  assert.throws(() => createSessionSync('/get/session', 'yes' as never), TypeError);
  assert.throws(() => createSessionSync({ secret } as never, true), TypeError);
});

bad('express(defaults, key) checks its arguments too', async () => {
  const sync = createSessionSync({ secret });
  try {
    assert.throws(() => sync.express(5 as never), TypeError);
    assert.throws(() => sync.express({ when: new Date() } as never), /when/);
    assert.throws(() => sync.express({}, ''), TypeError);
    assert.throws(() => sync.express({}, 'regenerate'), /regenerate/);
    assert.throws(() => sync.express({}, 'version'), /version/);
  } finally {
    await sync.close();
  }
});

bad.run();

// ---

const good = suite('good options are accepted');

good('a full, valid set of options', async () => {
  const store = new MemoryStore();
  const sync = createSessionSync({
    secret: ['new one, long enough for the warning', 'old one'],
    store,
    route: /^\/me$/,
    autoSync: false,
    key: 'data',
    defaults: { cart: [] },
    cookie: {
      name: 'app',
      httpOnly: true,
      sameSite: 'strict',
      secure: 'auto',
      path: '/',
      domain: 'example.test',
      maxAge: 60_000,
    },
    ttl: 60_000,
    absolute: 3_600_000,
    trustProxy: true,
    expose: ['cart', ['prefs', 'theme']],
    clientWritable: { prefs: (v) => (typeof v === 'object' ? true : 'an object') },
    origins: (origin) => origin.endsWith('.example'),
    limits: { depth: 8, size: 4096, ops: 10, keyLength: 32, mutationId: 32, rate: 5, burst: 10 },
    user: 'user.id',
  });
  await sync.close();
  await store.close();
});

good('a reserved-looking but harmless key, and the seed’s data key, are fine', async () => {
  for (const key of ['data', 'user', 'value', 'cart']) {
    const sync = createSessionSync({ secret, key });
    await sync.close();
  }
});

good('every own property of req.session other than the key is a reserved key', async () => {
  let own: string[] = [];
  const sync = createSessionSync({ secret, key: 'data' });
  const t = await startApp(sync, (app) => {
    app.get('/', (req, res) => {
      own = Object.getOwnPropertyNames(req.session).filter((k) => k !== 'data');
      res.end();
    });
  });
  try {
    await t.visitor().fetch('/');
    assert.ok(own.length > 0);
    for (const name of own) assert.throws(() => sync.express({}, name), TypeError, `${name} must be refused as a key`);
  } finally {
    await t.close();
  }
});

good.run();

// ---

const secrets = suite('secrets: required in production, warned about otherwise');

secrets('NODE_ENV=production without a secret throws', () => {
  const env = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    throwsNaming({}, 'secret');
    assert.throws(() => createSessionSync(), /secret/, 'the seed form too');
  } finally {
    process.env.NODE_ENV = env;
  }
});

secrets('a short secret and a missing one only warn, once each, with the prefix', async () => {
  const made: ReturnType<typeof createSessionSync>[] = [];
  const printed = warnings(() => {
    made.push(createSessionSync({ secret: 'short' }));
    made.push(createSessionSync({ secret: 'short too' }));
    made.push(createSessionSync({}));
    made.push(createSessionSync());
  });
  for (const sync of made) await sync.close();
  const short = printed.filter((p) => p.includes('shorter'));
  const missing = printed.filter((p) => p.includes('no "secret"'));
  assert.ok(short.length <= 1 && missing.length <= 1, printed.join('\n'));
  assert.ok(printed.every((p) => p.startsWith('session-sync:')));
});

secrets.run();

// TypeScript consumers of the packed package, without skipLibCheck, under the four module
// settings people use, in ESM, in CommonJS (.cts and the seed's call style, and JavaScript
// checked by TS), and in programs that mix both. One `SessionData` augmentation per program
// must reach `req.session.val`, `socket.session.val`, the browser's `session.data` and
// React's `useSession`. The app needs no ioredis and no @standard-schema/spec installed.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { requirePackages, typecheck, workspace, writeApp, type Checked } from '../support/consumers.js';

requirePackages('typescript', '@types/express', '@types/react', 'zod');

const EQUAL = `type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;`;

const AUGMENT = `declare module 'session-sync' {
  interface SessionData {
    visits?: number;
    prefs?: { theme?: 'dark' | 'light' };
    _csrf?: string;
  }
}`;

/**
 * A Standard Schema validator: zod's in one project (a real library's schema must fit the
 * interface the package inlines), a hand-written one elsewhere (zod's declarations double the
 * check time).
 */
const ZOD = { imports: "import { z } from 'zod';", schema: "z.enum(['dark', 'light'])" };
const OWN = {
  imports: '',
  schema: `{
    '~standard': {
      version: 1,
      vendor: 'app',
      validate: (value: unknown) => (value === 'dark' || value === 'light' ? { value } : { issues: [{ message: 'no' }] }),
    },
  } as const`,
};

/** The server half of an app, after its import lines: Express, Socket.IO, options, stores. */
const SERVER_BODY = (schema: string): string => `
${EQUAL}

const app = express();
const io = new Server(createServer(app));
const sync = createSessionSync({
  secret: process.env.SESSION_SECRET,
  store: new MemoryStore({ max: 1000 }),
  clientWritable: { 'prefs.theme': ${schema}, visits: (v) => typeof v === 'number' || 'a number' },
});
app.use(sync.express());
sync.attach(io);

app.post('/visit', async (req, res) => {
  const visits: Equal<typeof req.session.val.visits, number | undefined> = true;
  req.session.val.visits = (req.session.val.visits ?? 0) + 1;
  // @ts-expect-error a string is not a number of visits
  req.session.val.visits = 'many';
  await req.session.synchronize();
  res.json({ visits, tag: req.session.tag });
});

io.on('connection', (socket) => {
  const theme: Equal<NonNullable<typeof socket.session.val.prefs>['theme'], 'dark' | 'light' | undefined> = true;
  socket.on('theme', (next: 'dark' | 'light') => {
    socket.session.val.prefs = { theme: next };
  });
  void theme;
});

// RedisStore is typed without ioredis installed; a structural client type stands in.
export const redisStore = (client: { duplicate(): unknown; evalsha(...args: unknown[]): unknown }): RedisStore =>
  new RedisStore({ client }, { prefix: 'app:', clientOptions: { keyPrefix: 'x:' } });
export const applied = applyOps({}, [{ op: 'set', path: ['a'], value: PROTOCOL_VERSION }]);
export const data: JsonObject = { protocol: PROTOCOL_VERSION };
export { sync };
`;

const ESM_SERVER = (validator: typeof OWN): string => `import express from 'express';
import { createServer } from 'node:http';
import { Server } from 'socket.io';
${validator.imports}
import createDefault, { createSessionSync, MemoryStore, RedisStore, type SessionSyncOptions } from 'session-sync';
import { createSessionSync as fromServer } from 'session-sync/server';
import { applyOps, PROTOCOL_VERSION, type JsonObject } from 'session-sync/shared';

${AUGMENT}

export const same: typeof createSessionSync = createDefault;
export const alsoSame: typeof createSessionSync = fromServer;
export const options: SessionSyncOptions = { route: '/get/session' };
${SERVER_BODY(validator.schema)}`;

/** The seed's CommonJS style: the package is the factory, named exports are its properties. */
const SEED_CTS = `import sessionSync = require('session-sync');
import express = require('express');
${EQUAL}

const session = sessionSync();
sessionSync('/get/session', true);
sessionSync(null, false);
sessionSync.createSessionSync({ secret: 'a long enough secret for the seed style' });
sessionSync.default({ autoSync: true });
const store: sessionSync.MemoryStore = new sessionSync.MemoryStore();
const options: sessionSync.SessionSyncOptions = { store };

const app = express();
app.use(session.express());
app.get('/', (req, res) => {
  // The augmentation is written once, in another file of the program.
  const visits: Equal<typeof req.session.val.visits, number | undefined> = true;
  if (!req.session.val.visits) req.session.val.visits = 1;
  void req.session.synchronize({ model: 'http', target: 'tcp' });
  res.json({ visits, options: Object.keys(options) });
});
export = session;
`;

/** esModuleInterop's default import and a named import, in a CommonJS file. */
const INTEROP_CTS = `import createSessionSync from 'session-sync';
import { MemoryStore, createSessionSync as named } from 'session-sync';
export const a = createSessionSync({ store: new MemoryStore() });
export const b = named('/get/session', true);
`;

/** Plain JavaScript, checked by TypeScript: \`require()\` is typed there. */
const SEED_CJS = `// @ts-check
const { createSessionSync, MemoryStore } = require('session-sync');
const session = require('session-sync')('/get/session', true);
const other = createSessionSync({ store: new MemoryStore() });
module.exports = { session, other };
`;

/** The browser and React side: the same augmentation, as the browser sees it. */
const UI_TSX = (imports: string): string => `${imports}
${EQUAL}

const theme: Equal<NonNullable<typeof session.data.prefs>['theme'], 'dark' | 'light' | undefined> = true;
// @ts-expect-error server-only keys (top-level _keys) are not part of the browser's data
const csrf: string | undefined = session.data._csrf;
const mine = createSession({ url: 'https://example.com' });
const visits: Equal<typeof mine.data.visits, number | undefined> = true;

export function Theme() {
  const current = useSession((d) => d.prefs?.theme);
  const same: Equal<typeof current, 'dark' | 'light' | undefined> = true;
  const all = useSession();
  const count: Equal<typeof all.visits, number | undefined> = true;
  return <p data-ok={[theme, visits, same, count, csrf].join()}>{current ?? 'light'}</p>;
}
`;

const ESM_UI_IMPORTS = `import { session, createSession } from 'session-sync/browser';
import { useSession } from 'session-sync/react';`;

const compilerOptions = (module: string, moduleResolution: string, extra: Record<string, unknown> = {}) => ({
  module,
  moduleResolution,
  target: 'ES2022',
  lib: ['ES2022', 'DOM'],
  types: ['node'],
  jsx: 'react-jsx',
  strict: true,
  // Every package's declarations are checked, ours included; TypeScript's own lib files
  // (lib.dom.d.ts…) are not: they hold no error of ours and take 80% of the check time.
  skipLibCheck: false,
  skipDefaultLibCheck: true,
  noEmit: true,
  ...extra,
});

const tsconfig = (options: object, files: string[]): string =>
  JSON.stringify({ compilerOptions: options, files }, null, 2);

/** The four consumer projects. */
function projects(): Record<string, string> {
  const { plain } = workspace();
  return {
    nodenext: writeApp(plain, 'types-nodenext', {
      'package.json': '{ "type": "module" }',
      'server.ts': ESM_SERVER(ZOD),
      'seed.cts': SEED_CTS,
      'interop.cts': INTEROP_CTS,
      'seed.cjs': SEED_CJS,
      'ui.tsx': UI_TSX(ESM_UI_IMPORTS),
      'tsconfig.json': tsconfig(
        compilerOptions('nodenext', 'nodenext', { esModuleInterop: true, allowJs: true, checkJs: true }),
        ['server.ts', 'seed.cts', 'interop.cts', 'seed.cjs', 'ui.tsx'],
      ),
    }),
    // No "type": .ts files are CommonJS here; server.mts is the ES module of the mix.
    node16: writeApp(plain, 'types-node16', {
      'package.json': '{}',
      'server.mts': ESM_SERVER(OWN),
      'seed.cts': SEED_CTS,
      'app.ts': INTEROP_CTS,
      'ui.tsx': UI_TSX(ESM_UI_IMPORTS),
      'tsconfig.json': tsconfig(compilerOptions('node16', 'node16', { esModuleInterop: true }), [
        'server.mts',
        'seed.cts',
        'app.ts',
        'ui.tsx',
      ]),
    }),
    bundler: writeApp(plain, 'types-bundler', {
      'package.json': '{ "type": "module" }',
      'server.ts': ESM_SERVER(OWN),
      'ui.tsx': UI_TSX(ESM_UI_IMPORTS),
      'tsconfig.json': tsconfig(compilerOptions('esnext', 'bundler'), ['server.ts', 'ui.tsx']),
    }),
    // node10 ignores "exports": the root resolves through "types", subpaths through "typesVersions".
    node10: writeApp(plain, 'types-node10', {
      'package.json': '{}',
      'server.ts': ESM_SERVER(OWN),
      'seed.ts': SEED_CTS,
      'ui.tsx': UI_TSX(ESM_UI_IMPORTS),
      'tsconfig.json': tsconfig(
        compilerOptions('commonjs', 'node10', { esModuleInterop: true, ignoreDeprecations: '6.0' }),
        ['server.ts', 'seed.ts', 'ui.tsx'],
      ),
    }),
  };
}

// The browser/React file's diagnostics are judged apart from the rest (see the last suite).
const UI = /(^|\/)ui\.tsx$/;
let checked: Record<string, Checked> | undefined;

/** Runs the four checks once, two at a time (the machine has two cores). */
async function checkAll(): Promise<Record<string, Checked>> {
  if (checked) return checked;
  const dirs = Object.entries(projects());
  const out: Record<string, Checked> = {};
  for (let i = 0; i < dirs.length; i += 2) {
    await Promise.all(dirs.slice(i, i + 2).map(async ([name, dir]) => (out[name] = await typecheck(dir))));
  }
  checked = out;
  return out;
}

// ---

const server = suite('TypeScript consumers type-check the server without skipLibCheck');

for (const setting of ['nodenext', 'node16', 'bundler', 'node10']) {
  server(`moduleResolution ${setting}: the server, its options and req/socket.session.val`, async () => {
    const r = (await checkAll())[setting]!;
    assert.is(r.except(UI), '', `tsc in the ${setting} consumer:\n${r.except(UI)}`);
  });
}

server('no declaration file of the package has an error of its own', async () => {
  const all = Object.values(await checkAll()).flatMap((r) => r.all);
  const inPackage = all.filter((d) => d.includes('node_modules/session-sync/'));
  assert.equal(inPackage, []);
});

server.run();

// ---

const mixed = suite('one program mixes ES modules and CommonJS');

mixed('the seed call style in .cts, .ts and checked .cjs files, beside an ES module, with no TS2717', async () => {
  const { nodenext, node16 } = await checkAll();
  for (const r of [nodenext!, node16!]) {
    assert.not.match(r.all.join('\n'), /TS2717|TS2300|TS2349/);
    assert.is(r.except(UI), '');
  }
});

mixed.run();

// ---

// Waits on the browser engineer: `session` and `useSession` typed from SessionData.
const browser = suite('SessionData reaches session-sync/browser and session-sync/react');

for (const setting of ['nodenext', 'node16', 'bundler', 'node10']) {
  browser(
    `moduleResolution ${setting}: session.data, createSession().data and useSession see the augmentation`,
    async () => {
      const r = (await checkAll())[setting]!;
      assert.is(r.of(UI), '', `tsc in the ${setting} consumer:\n${r.of(UI)}`);
    },
  );
}

browser.run();

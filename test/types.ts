/**
 * Type tests: checked by `npx tsc -p tsconfig.json`, never run. Each `@ts-expect-error`
 * line must be an error; if one stops being an error, tsc fails ("Unused '@ts-expect-error'").
 */
import express, { type Request, type Response } from 'express';
import sessionSync, {
  createSessionSync,
  MemoryStore,
  SessionSyncError,
  type HttpSession,
  type JsonValue,
  type SessionChange,
  type SessionSnapshot,
  type SessionSyncOptions,
} from '../src/server/index.js';

// The session's shape, as an app declares it (in an app: `declare module 'session-sync'`).
// Augmentations are program-wide: the `typed*` names keep this one out of the other tests.
declare module '../src/server/index.js' {
  interface SessionData {
    typedUser?: { id: string; name: string };
    typedCart?: string[];
    typedVisits?: number;
  }
}

const sync = createSessionSync({ secret: 'types only', store: new MemoryStore(), expose: ['typedUser', 'typedCart'] });
const app = express();
app.use(sync.express({ typedCart: [] }));

app.get('/', async (req: Request, res: Response) => {
  // req.session is ours, by declaration merging on Express.Request.
  const session: HttpSession = req.session;
  const id: string | undefined = req.session.id;
  const version: number = req.session.version;
  const tag: string | null = req.session.tag;

  // Declared keys keep their types…
  const cart: string[] | undefined = req.session.val.typedCart;
  const name: string | undefined = req.session.val.typedUser?.name;
  req.session.val.typedVisits = (req.session.val.typedVisits ?? 0) + 1;
  req.session.val.typedUser = { id: 'u1', name: 'ann' };
  req.session.val.typedCart?.push('apple');
  // …and undeclared keys are any JSON value.
  req.session.val.anything = { nested: [1, 'two', null, true] };
  const other: JsonValue | undefined = req.session.val.anything;

  // @ts-expect-error a declared key keeps its type
  req.session.val.typedCart = 5;
  // @ts-expect-error a declared object keeps its shape
  req.session.val.typedUser = { id: 1 };
  // @ts-expect-error a Date is not JSON
  req.session.val.when = new Date();
  // @ts-expect-error a function is not JSON
  req.session.val.fn = () => 1;
  // @ts-expect-error a Map is not JSON
  req.session.val.map = new Map();
  // @ts-expect-error an optional key may be missing
  const missing: string = req.session.val.typedUser.name;
  // @ts-expect-error the version is read-only
  req.session.version = 3;
  // @ts-expect-error the id is read-only
  req.session.id = 'mine';

  await req.session.synchronize();
  await req.session.synchronize({ model: 'http', target: 'tcp' });
  // @ts-expect-error model is a string
  await req.session.synchronize({ model: 5 });
  await req.session.regenerate();
  await req.session.regenerate({ keep: false });
  await req.session.regenerate({ keep: 'exposed' });
  await req.session.regenerate({ keep: ['prefs', 'user.name'] });
  // @ts-expect-error keep is 'exposed', a boolean or a list of paths
  await req.session.regenerate({ keep: 'yes' });
  req.session.regenerate((err?: unknown) => void err); // express-session's callback style
  await req.session.destroy();
  req.session.destroy((err?: unknown) => void err);
  await req.session.reload();
  req.session.reload((err?: unknown) => void err);
  await req.session.save();
  req.session.save((err?: unknown) => void err);
  await req.session.increment('visits');
  await req.session.increment(['stats', 'likes'], 5);
  // @ts-expect-error the step is a number
  await req.session.increment('visits', '1');

  const snap: SessionSnapshot = await sync.snapshot(req);
  res.json({ session, id, version, tag, cart, name, other, missing, snap });
});

// The seed's factory forms.
const seed1 = sessionSync();
const seed2 = sessionSync('/get/session', true);
const seed3 = sessionSync(null, false);
const modern = sessionSync({ secret: 's', route: /^\/me$/, autoSync: false });
// @ts-expect-error autoSync goes inside the options object
sessionSync({ secret: 's' }, true);
// @ts-expect-error the seed's second argument is a boolean
sessionSync('/get/session', 'yes');
app.use(seed1.express({}, 'data'));

// Options are typed.
const options: SessionSyncOptions = {
  secret: ['new', 'old'],
  cookie: { sameSite: 'strict', secure: 'auto', maxAge: 60_000 },
  clientWritable: { prefs: (value) => (typeof value === 'string' ? true : 'a string') },
  origins: (origin) => origin.endsWith('.example'),
  user: 'user.id',
};
// @ts-expect-error unknown option
const typo: SessionSyncOptions = { sessionSecret: 'x' };
// @ts-expect-error sameSite is a closed set
const badSameSite: SessionSyncOptions = { cookie: { sameSite: 'sometimes' } };
// @ts-expect-error ttl is a number of milliseconds
const badTtl: SessionSyncOptions = { ttl: '1h' };

// Out of band.
async function outOfBand(id: string): Promise<void> {
  const record = await sync.get(id);
  const data = record?.data;
  await sync.update(id, (s) => {
    s.credits = 10;
  });
  await sync.update(id, [
    { op: 'set', path: ['a', 'b'], value: 1 },
    { op: 'del', path: ['c'] },
  ]);
  // @ts-expect-error an op kind that does not exist
  await sync.update(id, [{ op: 'push', path: ['a'], value: 1 }]);
  sync.on('change', (changed: string, change: SessionChange) => void [changed, change.version, change.ops]);
  sync.on('end', (ended, reason) => {
    // @ts-expect-error reason is a closed set
    const never: 'logout' = reason;
    void [ended, never];
  });
  try {
    await sync.destroy(id);
  } catch (err) {
    if (err instanceof SessionSyncError) {
      const code: 'store_unavailable' | 'invalid' | 'too_large' | string = err.code;
      // @ts-expect-error code is a closed set
      const bad: 'oops' = err.code;
      void [code, bad];
    }
  }
  await sync.close();
  void [data, seed2, seed3, modern, options, typo, badSameSite, badTtl];
}
void outOfBand;

/**
 * Cookie and HTTP fuzzing: malformed, oversized, duplicated, wrongly encoded and forged
 * cookies and If-None-Match values. Never a 5xx, never someone else's session. Plus secret
 * rotation: the old secret verifies, the new one signs.
 */
import { connect } from 'node:net';
import fc from 'fast-check';
import express from 'express';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createSessionSync } from '../../src/server/index.js';
import { serve, type Served } from '../support/http.js';

const SOAK = process.env.SESSION_SYNC_SOAK === '1';
const RUNS = SOAK ? 20_000 : 1_000;

// fetch and http.request refuse header bytes a real attacker can still send, so requests go
// over a raw socket: whatever the bytes, the server must answer.
function rawGet(url: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      resolve({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
    const lines = [`GET ${path} HTTP/1.1`, `Host: ${hostname}:${port}`, 'Connection: close'];
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    socket.end(Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'));
  });
}
const OLD = 'old-secret-old-secret-old-secret-0001';
const NEW = 'new-secret-new-secret-new-secret-0002';

interface Visitor {
  cookie: string; // `sid=<value>`
  value: string;
  etag: string;
}

function appWith(secret: string | string[]) {
  const sync = createSessionSync({ secret });
  const app = express();
  app.use(sync.express());
  app.post('/claim/:owner', (req, res) => {
    req.session.val.owner = req.params.owner;
    res.send('ok');
  });
  app.get('/whoami', (req, res) => res.json({ owner: req.session.val.owner ?? null, id: req.session.id ?? null }));
  return { sync, app };
}

async function claim(url: string, owner: string): Promise<Visitor> {
  const res = await fetch(`${url}/claim/${owner}`, { method: 'POST' });
  const cookie = res.headers.get('set-cookie')!.split(';')[0]!;
  const route = await fetch(`${url}/get/session`, { headers: { cookie } });
  return { cookie, value: cookie.slice(4), etag: route.headers.get('etag')! };
}

// A cookie header an attacker or a broken client could send, built around the real values.
function cookieHeader(real: Visitor[]): fc.Arbitrary<string> {
  const value = real[0]!.value;
  const id = value.slice(0, 43);
  const mac = value.slice(44);
  const other = real[1]!.value;
  const piece = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.string({ unit: 'binary', maxLength: 100 }),
    fc.constantFrom('', ';', '=', 'sid', 'sid=', 'sid=;', '%', '%ZZ', '%00', '"', 'sid="x"'),
    // forged: right id, wrong or shuffled MAC; someone else's MAC; truncated; padded
    fc.string({ minLength: 43, maxLength: 43 }).map((m) => `sid=${id}.${m}`),
    fc.constant(`sid=${id}.${other.slice(44)}`),
    fc.constant(`sid=${other.slice(0, 43)}.${mac}`),
    fc.integer({ min: 1, max: 86 }).map((n) => `sid=${value.slice(0, n)}`),
    fc.constant(`sid=${value}x`),
    fc.constant(`sid=${value.toUpperCase()}`),
    fc.constant(`sid=${encodeURIComponent(value + '\u0000')}`),
    fc.constant(`sid=${id}`),
    fc.constant(`sid=${'A'.repeat(43)}.${mac}`),
    fc.integer({ min: 4_000, max: 40_000 }).map((n) => `sid=${'x'.repeat(n)}`),
  );
  return fc.array(piece, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('; '));
}

// ---

const fuzz = suite<{ served: Served; sync: ReturnType<typeof createSessionSync>; a: Visitor; b: Visitor }>(
  'forged and broken cookies',
);

fuzz.before(async (ctx) => {
  const { sync, app } = appWith(NEW);
  ctx.sync = sync;
  ctx.served = await serve(app);
  ctx.a = await claim(ctx.served.url, 'A');
  ctx.b = await claim(ctx.served.url, 'B');
});

fuzz.after(async ({ served, sync }) => {
  await served.close();
  await sync.close();
});

fuzz(`${RUNS} cookie headers: never a 5xx, never another visitor's session`, async ({ served, a, b }) => {
  let checked = 0;
  await fc.assert(
    fc.asyncProperty(cookieHeader([a, b]), fc.constantFrom('/whoami', '/get/session'), async (header, path) => {
      const res = await rawGet(served.url, path, { cookie: header });
      assert.ok(res.status > 0 && res.status < 500, `${res.status} for cookie ${JSON.stringify(header).slice(0, 120)}`);
      checked++;
      // Node's parser answers 400/431 itself for bytes or sizes it refuses: nothing of ours ran.
      if (res.status !== 200) return true;
      const body = JSON.parse(res.body.slice(res.body.indexOf('{'), res.body.lastIndexOf('}') + 1)) as {
        owner?: string | null;
        data?: { owner?: string };
      };
      const owner = body.owner ?? body.data?.owner ?? null;
      // The header may legitimately carry a real cookie verbatim (first occurrence wins).
      if (owner === 'A')
        assert.ok(header.includes(a.cookie), `A's session reached without A's cookie: ${header.slice(0, 120)}`);
      if (owner === 'B')
        assert.ok(header.includes(b.cookie), `B's session reached without B's cookie: ${header.slice(0, 120)}`);
      return true;
    }),
    { numRuns: RUNS },
  );
  assert.is(checked, RUNS);
});

fuzz('duplicated cookies: the first sid is the one read, consistently', async ({ served, a, b }) => {
  const ab = await (await fetch(served.url + '/whoami', { headers: { cookie: `${a.cookie}; ${b.cookie}` } })).json();
  const ba = await (await fetch(served.url + '/whoami', { headers: { cookie: `${b.cookie}; ${a.cookie}` } })).json();
  assert.is((ab as { owner: string }).owner, 'A');
  assert.is((ba as { owner: string }).owner, 'B');
});

fuzz(`${RUNS} If-None-Match values: 200 or 304, and 304 only for the current ETag`, async ({ served, a }) => {
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.string({ maxLength: 300 }),
        fc.constantFrom('*', '""', 'W/', a.etag, `W/${a.etag}`, `"x", ${a.etag}`, a.etag.slice(0, -2) + '9"'),
        fc.array(fc.string({ maxLength: 30 }), { maxLength: 20 }).map((xs) => xs.join(', ')),
      ),
      async (inm) => {
        let res: Response;
        try {
          res = await fetch(served.url + '/get/session', { headers: { cookie: a.cookie, 'if-none-match': inm } });
        } catch {
          return true;
        }
        assert.ok(
          res.status === 200 || res.status === 304,
          `status ${res.status} for If-None-Match ${JSON.stringify(inm)}`,
        );
        if (res.status === 304) {
          const tags = inm.split(',').map((t) => t.trim());
          assert.ok(
            tags.includes('*') || tags.includes(a.etag) || tags.includes(`W/${a.etag}`),
            `304 for ${JSON.stringify(inm)}`,
          );
        } else {
          const body = (await res.json()) as { data: { owner: string } };
          assert.is(body.data.owner, 'A');
        }
        return true;
      },
    ),
    { numRuns: RUNS / 4 },
  );
});

fuzz.run();

// ---

const rotation = suite('secret rotation');

rotation('the old secret verifies, the new one signs, a foreign one is refused', async () => {
  const before = appWith(OLD);
  const s1 = await serve(before.app);
  const old = await claim(s1.url, 'A');
  await s1.close();

  // The same store behind a rotated server: [new, old].
  const rotated = createSessionSync({ secret: [NEW, OLD], store: before.sync.store });
  const app = express();
  app.use(rotated.express());
  app.get('/whoami', (req, res) => res.json({ owner: req.session.val.owner ?? null }));
  app.post('/claim/:owner', (req, res) => {
    req.session.val.owner = req.params.owner;
    res.send('ok');
  });
  const s2 = await serve(app);
  const seen = await (await fetch(`${s2.url}/whoami`, { headers: { cookie: old.cookie } })).json();
  assert.is((seen as { owner: string }).owner, 'A', 'a cookie signed with the old secret still verifies');
  const fresh = await claim(s2.url, 'C');
  await s2.close();

  // A server that knows only the new secret accepts the new cookie and refuses the old one.
  const onlyNew = createSessionSync({ secret: NEW, store: before.sync.store });
  const app3 = express();
  app3.use(onlyNew.express());
  app3.get('/whoami', (req, res) => res.json({ owner: req.session.val.owner ?? null }));
  const s3 = await serve(app3);
  const withNew = await (await fetch(`${s3.url}/whoami`, { headers: { cookie: fresh.cookie } })).json();
  const withOld = await (await fetch(`${s3.url}/whoami`, { headers: { cookie: old.cookie } })).json();
  assert.is((withNew as { owner: string }).owner, 'C', 'new cookies are signed with the first (new) secret');
  assert.is((withOld as { owner: string | null }).owner, null, 'the old secret no longer verifies once removed');
  await s3.close();
  await Promise.all([rotated.close(), onlyNew.close(), before.sync.close()]);
});

rotation.run();

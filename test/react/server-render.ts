/**
 * Run by ssr.test.ts in a plain Node process (no jsdom, no window), as a server render runs:
 * creates sessions, renders the hooks with react-dom/server, prints what it saw as JSON, and
 * must then exit by itself (nothing left open: no socket, no timer, no channel).
 */
import { createElement } from 'react';
import { renderToString } from 'react-dom/server';
import { createSession, session } from '../../src/browser/index.js';
import { useSession, useSessionStatus } from '../../src/react/index.js';

type Prefs = { prefs?: { theme?: string } };
const seen: Record<string, unknown> = {};

function Theme({ of }: { of: ReturnType<typeof createSession<Prefs>> }) {
  const theme = useSession(of, (d) => d.prefs?.theme ?? 'light');
  return createElement('p', null, `${theme} ${useSessionStatus(of)}`);
}
function Whole() {
  return createElement('p', null, `${JSON.stringify(useSession())} ${useSessionStatus()}`);
}

async function main(): Promise<void> {
  const bare = createSession();
  seen.bare = {
    data: bare.data,
    status: bare.status,
    tag: bare.tag,
    pending: bare.pending,
    persistent: bare.persistent,
  };

  const initial = { version: 3, tag: 'T', epoch: 1, expiresIn: 60_000, data: { prefs: { theme: 'dark' } } };
  const visitor = createSession<Prefs>({ initial });
  const calls: unknown[] = [];
  const unsubscribe = visitor.subscribe((d) => calls.push(d));
  unsubscribe();
  seen.visitor = {
    data: visitor.data,
    status: visitor.status,
    version: visitor.version,
    ready: await visitor.ready,
    server: visitor.getServerSnapshot() === visitor.data,
    subscribed: calls,
  };
  seen.write = await visitor.set('prefs.theme', 'light').then(
    () => 'accepted',
    (err: { code?: string }) => err.code,
  );
  seen.after = visitor.data;
  await visitor.refresh();
  visitor.close();

  seen.default = { data: session.data, status: session.status };

  seen.react = renderToString(createElement(Theme, { of: createSession<Prefs>({ initial }) }));
  seen.reactDefault = renderToString(createElement(Whole));

  process.stdout.write(JSON.stringify(seen));
}

main();

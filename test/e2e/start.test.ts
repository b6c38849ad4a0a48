// `npm start` (demo/start.js) as a person runs it: a child process that prints the URL, serves
// the page and the session, uses Redis when REDIS_URL is set, and stops cleanly on Ctrl+C.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startRedis, type TestRedis } from '../support/redis.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

interface Started {
  child: ChildProcess;
  url: string;
  output: () => string;
}

/** Runs demo/start.js on a free loopback port and resolves once it printed its URL. */
function start(env: Record<string, string> = {}): Promise<Started> {
  const child = spawn(process.execPath, ['demo/start.js'], {
    cwd: root,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (chunk) => (out += chunk));
  child.stderr!.on('data', (chunk) => (out += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`demo/start.js printed no URL within 120 s:\n${out}`));
    }, 120_000); // it may build dist/ first
    child.stdout!.on('data', () => {
      const url = /session-sync demo: (http:\/\/\S+)/.exec(out)?.[1];
      // The banner's last line: a pipe may hand the banner over in pieces.
      if (!url || !out.includes('Ctrl+C stops')) return;
      clearTimeout(timer);
      resolve({ child, url, output: () => out });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`demo/start.js exited (${code}) before printing its URL:\n${out}`));
    });
  });
}

/** Sends Ctrl+C and resolves with the exit code. */
function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    child.kill('SIGINT');
  });
}

/** One visitor: a fetch that keeps the session cookie, whichever node it talks to. */
function visitor(): (base: string, path: string, method?: string) => Promise<Response> {
  let cookie = '';
  return async (base, path, method = 'GET') => {
    const res = await fetch(new URL(path, base), { method, headers: { accept: 'application/json', cookie } });
    const set = res.headers.get('set-cookie');
    if (set) cookie = set.split(';')[0]!;
    return res;
  };
}

// ---

const memory = suite<{ demo?: Started }>('npm start serves the demo with sessions in memory');

memory.after(async (ctx) => {
  if (ctx.demo && ctx.demo.child.exitCode === null) await stop(ctx.demo.child);
});

memory('prints the URL, serves the page and the session, stops on Ctrl+C', async (ctx) => {
  const demo = (ctx.demo = await start({ REDIS_URL: '' }));
  assert.match(demo.output(), 'sessions in memory');
  const send = visitor();
  const page = await send(demo.url, '/');
  assert.is(page.status, 200);
  assert.match(await page.text(), '<title>session-sync demo</title>');
  const bundle = await send(demo.url, '/session-sync.js');
  assert.is(bundle.status, 200, 'the IIFE build is served');
  assert.match(await bundle.text(), 'SessionSync');
  assert.equal(await (await send(demo.url, '/api/counter', 'POST')).json(), { counter: 1 });
  const body = (await (await send(demo.url, '/get/session')).json()) as { data: unknown };
  assert.equal(body.data, { counter: 1, prefs: { theme: 'light' } }, 'the route answers, without _visits');
  assert.is(await stop(demo.child), 0);
});

memory.run();

// ---

const redis = suite<{ redis?: TestRedis; nodes: Started[] }>('npm start with REDIS_URL: two nodes share sessions');

redis.before(async (ctx) => {
  ctx.nodes = [];
  ctx.redis = await startRedis();
});

redis.after(async (ctx) => {
  for (const node of ctx.nodes) if (node.child.exitCode === null) await stop(node.child);
  await ctx.redis?.stop();
});

redis('a session written through one node is read through the other', async (ctx) => {
  const env = { REDIS_URL: ctx.redis!.url };
  ctx.nodes.push(await start(env), await start(env));
  const [a, b] = ctx.nodes as [Started, Started];
  assert.match(a.output(), 'sessions in Redis');
  // One cookie jar across both nodes: the cookie is per host, the port does not matter.
  const send = visitor();
  await send(a.url, '/');
  await send(a.url, '/api/counter', 'POST');
  await send(b.url, '/api/counter', 'POST');
  const body = (await (await send(a.url, '/get/session')).json()) as { data: { counter: number } };
  assert.is(body.data.counter, 2, 'both nodes wrote the one session');
  assert.is(await stop(a.child), 0);
  assert.is(await stop(b.child), 0);
});

redis.run();

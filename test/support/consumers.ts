/**
 * Throwaway apps that use session-sync the way its users do: from the tarball `npm pack`
 * makes, in a temp folder, never from src/ or by the package's self-reference.
 *
 * The tarball is unpacked into `<tmp>/<root>/node_modules/session-sync`, exactly what `npm i
 * ./session-sync-x.tgz` lays down. Its dependencies and the apps' peers (express, socket.io,
 * react, vue, passport…) are symlinks to this repository's node_modules, so nothing is fetched
 * (it works offline, in CI, in seconds). Two roots:
 * - `plain`: no ioredis and no @standard-schema/spec, as most consumers have (a runtime or type
 *   import of either then fails here); no @types/express-session (it declares
 *   `req.session` too, and a program uses one of the two);
 * - `redis`: the same plus ioredis, for the lazy loading of `RedisStore`.
 *
 * Everything is made once per process (uvu runs a group's files in one process) and removed at
 * exit. Apps are started as child processes, so each has its own module cache.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Socket as ClientSocket } from 'socket.io-client';

/** The repository. */
export const repo = fileURLToPath(new URL('../..', import.meta.url));
const modules = join(repo, 'node_modules');

/** Never linked into a consumer: what the package must work without, and what conflicts. */
const NOT_LINKED = new Set(['session-sync', 'ioredis', '@standard-schema', '@types/express-session', '.bin']);

/** The temp workspace. */
export interface Workspace {
  /** The temp folder (removed at exit). */
  dir: string;
  /** The packed tarball. */
  tarball: string;
  /** Paths inside the tarball (`package/…`). */
  files: string[];
  /** The root without ioredis: apps live in its subfolders. */
  plain: string;
  /** The root with ioredis. */
  redis: string;
}

let made: Workspace | undefined;

/**
 * Fails with the command that fixes it: a missing tool or package is never a silent skip.
 *
 * @param what - what is missing
 * @param fix - the command to run
 */
export function missing(what: string, fix: string): never {
  throw new Error(`${what} is missing: run \`${fix}\``);
}

/**
 * Checks that packages the consumer apps need are installed in the repository.
 *
 * @param names - package names (devDependencies)
 * @example
 * requirePackages('vue', 'vue-tsc')
 */
export function requirePackages(...names: string[]): void {
  for (const name of names) {
    if (!existsSync(join(modules, name, 'package.json'))) missing(`the devDependency ${name}`, 'npm ci');
  }
}

function run(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    missing(`the program ${cmd}`, cmd === 'tar' ? 'apt-get install tar' : `apt-get install ${cmd}`);
  }
  if (r.status !== 0) throw new Error(`\`${cmd} ${args.join(' ')}\` failed (${r.status}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Links every package of the repository's node_modules into `target`, but those in NOT_LINKED. */
function linkModules(target: string, extra: string[] = []): void {
  mkdirSync(target, { recursive: true });
  for (const entry of readdirSync(modules)) {
    if (entry.startsWith('.') || NOT_LINKED.has(entry)) continue;
    if (entry.startsWith('@')) {
      mkdirSync(join(target, entry), { recursive: true });
      for (const pkg of readdirSync(join(modules, entry))) {
        if (!NOT_LINKED.has(`${entry}/${pkg}`)) symlinkSync(join(modules, entry, pkg), join(target, entry, pkg), 'dir');
      }
    } else symlinkSync(join(modules, entry), join(target, entry), 'dir');
  }
  for (const name of extra) symlinkSync(join(modules, name), join(target, name), 'dir');
}

/**
 * Packs the built package and lays out the two roots (once per process).
 *
 * @returns the workspace
 * @example
 * const { plain } = workspace()
 */
export function workspace(): Workspace {
  if (made) return made;
  if (!existsSync(join(repo, 'dist', 'server.js'))) missing('dist/', 'npm run build');
  const dir = mkdtempSync(join(tmpdir(), 'session-sync-consumers-'));
  // SESSION_SYNC_KEEP_CONSUMERS=1 keeps the apps for a look after a failure.
  if (!process.env.SESSION_SYNC_KEEP_CONSUMERS) process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  else console.log(`consumer apps in ${dir}`);
  // `npm pack` as a publisher runs it; --json names the file and lists what it holds.
  const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', dir], repo)) as {
    filename: string;
    files: { path: string }[];
  }[];
  const tarball = join(dir, packed[0]!.filename);
  const files = run('tar', ['tzf', tarball], dir).trim().split('\n');
  const roots = { plain: join(dir, 'plain'), redis: join(dir, 'redis') };
  for (const [name, root] of Object.entries(roots)) {
    const pkgDir = join(root, 'node_modules', 'session-sync');
    mkdirSync(pkgDir, { recursive: true });
    run('tar', ['xzf', tarball, '-C', pkgDir, '--strip-components=1'], dir);
    linkModules(join(root, 'node_modules'), name === 'redis' ? ['ioredis'] : []);
  }
  made = { dir, tarball, files, ...roots };
  return made;
}

/**
 * Writes the files of an app into a folder of a root.
 *
 * @param root - a root of the workspace
 * @param name - the app's folder
 * @param files - relative path → content
 * @returns the app's folder
 * @example
 * const dir = writeApp(ws.plain, 'cjs-express4', { 'app.cjs': source })
 */
export function writeApp(root: string, name: string, files: Record<string, string>): string {
  const dir = join(root, name);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

/** What a finished child process printed. */
export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command in an app's folder to its end (bounded).
 *
 * @param cwd - the folder
 * @param cmd - the program (`process.execPath` for node)
 * @param args - its arguments
 * @param timeoutMs - killed after this long
 * @returns exit code and output
 * @example
 * const r = await runIn(dir, process.execPath, ['check.cjs'])
 */
export function runIn(cwd: string, cmd: string, args: string[], timeoutMs = 60_000): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: childEnv() });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The environment of an app: no NODE_OPTIONS (tsx's loader must not leak into it), no debug output. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'test' };
  delete env.NODE_OPTIONS;
  delete env.DEBUG;
  return env;
}

/** A running app. */
export interface RunningApp {
  /** `http://127.0.0.1:<port>` */
  url: string;
  child: ChildProcess;
  /** What it printed so far. */
  output(): string;
  /** Stops it (SIGTERM, then SIGKILL) and resolves when it has exited. */
  stop(): Promise<void>;
}

/**
 * Starts an app that prints `listening <port>` once it listens.
 *
 * @param cwd - the app's folder
 * @param file - the file node runs
 * @param timeoutMs - how long to wait for the line
 * @returns the running app
 * @example
 * const app = await startApp(dir, 'server.mjs')
 */
export function startApp(cwd: string, file: string, timeoutMs = 15_000): Promise<RunningApp> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: childEnv() });
    let out = '';
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    const stop = async (): Promise<void> => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const hard = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(hard);
      }
    };
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`${file} did not print "listening <port>" within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const onData = (chunk: Buffer): void => {
      out += chunk;
      const m = /^listening (\d+)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout.off('data', onData);
        child.stdout.on('data', (c: Buffer) => (out += c));
        resolve({ url: `http://127.0.0.1:${m[1]}`, child, output: () => out, stop });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (c: Buffer) => (out += c));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${file} exited (${code}) before listening:\n${out}`));
    });
  });
}

/** TypeScript's diagnostics of one `tsc -p` run, by file (relative to the project). */
export interface Checked {
  code: number | null;
  /** Every diagnostic line. */
  all: string[];
  /** The diagnostics of files whose path matches, joined. */
  of(pattern: RegExp): string;
  /** The diagnostics of every file that does not match. */
  except(pattern: RegExp): string;
}

/**
 * Type-checks a consumer project with the repository's TypeScript.
 *
 * @param dir - the folder with its tsconfig.json
 * @param bin - `tsc` or another checker in node_modules/.bin (`vue-tsc`)
 * @returns the diagnostics
 * @example
 * const r = await typecheck(dir)
 * assert.is(r.except(/browser/), '')
 */
export async function typecheck(dir: string, bin = 'tsc'): Promise<Checked> {
  const program = join(modules, '.bin', bin);
  if (!existsSync(program)) missing(bin, 'npm ci');
  const r = await runIn(dir, program, ['-p', '.', '--pretty', 'false']);
  // A diagnostic starts with `file(line,col): error`; later lines of it are indented.
  const all: string[] = [];
  for (const line of (r.stdout + r.stderr).split('\n')) {
    if (/^\S/.test(line)) all.push(line);
    else if (line.trim() && all.length) all[all.length - 1] += `\n${line}`;
  }
  if (r.code !== 0 && all.length === 0) all.push(`${bin} exited with ${r.code} and no diagnostic`);
  const file = (d: string): string => /^(.+?)\(\d+,\d+\)/.exec(d)?.[1] ?? '';
  return {
    code: r.code,
    all,
    of: (p) => all.filter((d) => p.test(file(d))).join('\n'),
    except: (p) => all.filter((d) => !p.test(file(d))).join('\n'),
  };
}

/**
 * Connects a socket.io-client (the repository's, as a browser's page would hold its own) with
 * a visitor's cookies, and resolves once connected.
 *
 * @param url - the app's base URL
 * @param cookie - the `Cookie` header
 * @param nsp - the namespace (default `/`)
 * @returns the connected socket
 * @example
 * const socket = await connectSocket(app.url, jar.header)
 */
export async function connectSocket(url: string, cookie: string, nsp = '/'): Promise<ClientSocket> {
  const { io } = await import('socket.io-client');
  const socket = io(new URL(nsp, url).href, {
    transports: ['websocket'],
    extraHeaders: { cookie },
    reconnection: false,
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', (err) => {
      socket.close();
      reject(err);
    });
  });
  return socket;
}

/**
 * Resolves with the first event `name` whose payload passes `test` (bounded).
 *
 * @param socket - a connected socket
 * @param name - the event
 * @param test - which payload counts
 * @param timeoutMs - how long to wait
 * @returns the payload
 * @example
 * await nextEvent(socket, 'session:patch', (p) => p.ops.length > 0)
 */
export function nextEvent<T = any>(
  socket: ClientSocket,
  name: string,
  test: (payload: T) => boolean = () => true,
  timeoutMs = 5000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(name, on);
      reject(new Error(`no ${name} within ${timeoutMs} ms`));
    }, timeoutMs);
    const on = (payload: T): void => {
      if (!test(payload)) return;
      clearTimeout(timer);
      socket.off(name, on);
      resolve(payload);
    };
    socket.on(name, on);
  });
}

/**
 * Gives one app its own copy of a package under another name (Express 4 as `express`, from the
 * repository's `express4` alias), ahead of the root's.
 *
 * @param dir - the app's folder
 * @param name - the name the app requires
 * @param from - the package in the repository's node_modules
 * @example
 * linkPackage(dir, 'express', 'express4')
 */
export function linkPackage(dir: string, name: string, from: string): void {
  requirePackages(from);
  mkdirSync(join(dir, 'node_modules'), { recursive: true });
  symlinkSync(join(modules, from), join(dir, 'node_modules', name), 'dir');
}

/** An app started by the first test that needs it (see {@link lazyApp}). */
export interface LazyApp {
  /** Starts the app once; every caller gets it, or the same error. */
  get(): Promise<RunningApp>;
  /** Stops it if it was started. */
  stop(): Promise<void>;
}

/**
 * Starts an app on first use instead of in a `before` hook: uvu does not print an error thrown
 * by a hook, so a failure to start would show as failed tests with no reason.
 *
 * @param start - starts the app
 * @returns the lazy handle
 * @example
 * const app = lazyApp(() => startApp(dir, 'app.js'))
 * test('…', async () => { const { url } = await app.get() })
 * test.after(app.stop)
 */
export function lazyApp(start: () => Promise<RunningApp>): LazyApp {
  let started: Promise<RunningApp> | undefined;
  return {
    get: () => (started ??= start()),
    stop: async () => {
      const app = await started?.catch(() => undefined);
      await app?.stop();
    },
  };
}

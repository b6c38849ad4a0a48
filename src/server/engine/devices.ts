/**
 * A user's devices: `sessionsOf()` with each session's tag, creation time and device, and
 * the handle's `devices()` and `revoke(tag)`, which name sessions by tag only — a tag is
 * safe to show a browser, an id is the bearer secret of a cookie.
 */
import { SessionSyncError } from '../../shared/index.js';
import type { DeviceNote, UserSession } from '../stores/store.js';
import type { Core } from './core.js';
import { summarizeUserAgent } from './user-agent.js';
import { listSessions } from './user-sessions.js';

// Tags (a SHA-256 each) and summaries (a dozen patterns each) are pure functions of their
// input, and an account page asks for the same ones on every visit: the last few hundred of
// each are remembered (a third off the cost of listing 100 sessions on MemoryStore).
const REMEMBERED = 512;
const tags = new Map<string, string>();
const summaries = new Map<string, string>();

function remembered(memory: Map<string, string>, key: string, make: (key: string) => string): string {
  let value = memory.get(key);
  if (value === undefined) {
    if (memory.size >= REMEMBERED) memory.delete(memory.keys().next().value!);
    memory.set(key, (value = make(key)));
  }
  return value;
}

/** What a session's requests and handshakes said about the client. */
export interface DeviceInfo {
  /** The raw `User-Agent` of the request or handshake that last touched the session; null when unknown. */
  userAgent: string | null;
  /** A readable name for it: `"Chrome on macOS"`, `"Firefox on Android"`, `"curl"`, `"Unknown device"`. */
  summary: string;
  /** The client's IP address (null when unknown); present only with the option `deviceIp: true`. */
  ip?: string | null;
}

/** One live session of a user, as `sessionsOf()` lists it. */
export interface UserSessionInfo {
  /** The session id: a credential, for server code only. */
  id: string;
  /** The session's tag: safe to show the browser, and what `revoke(tag)` takes. */
  tag: string;
  version: number;
  /** When the record was created (its epoch), epoch ms; null only from a store that does not say. */
  createdAt: number | null;
  /** The last write or activity, epoch ms. */
  lastActive: number;
  device: DeviceInfo;
}

/** One session of the handle's user, as `req.session.devices()` lists it: no id, a tag. */
export interface UserDevice {
  tag: string;
  version: number;
  createdAt: number | null;
  lastActive: number;
  device: DeviceInfo;
  /** True for the session of the handle that asked. */
  current: boolean;
}

/**
 * The device a note describes, with its summary; the IP only with the option `deviceIp`.
 *
 * @param note - the stored note, if any
 * @param deviceIp - option `deviceIp`
 * @returns the device
 * @example
 * describeDevice({ userAgent: 'curl/8.5.0' }, false) // { userAgent: 'curl/8.5.0', summary: 'curl' }
 */
export function describeDevice(note: DeviceNote | undefined, deviceIp: boolean): DeviceInfo {
  const userAgent = typeof note?.userAgent === 'string' && note.userAgent !== '' ? note.userAgent : null;
  const summary =
    userAgent === null ? summarizeUserAgent(undefined) : remembered(summaries, userAgent, summarizeUserAgent);
  const device: DeviceInfo = { userAgent, summary };
  // A note kept while the option was on is not shown once it is off.
  if (deviceIp) device.ip = typeof note?.ip === 'string' && note.ip !== '' ? note.ip : null;
  return device;
}

function infoOf(core: Core, session: UserSession): UserSessionInfo {
  return {
    id: session.id,
    tag: remembered(tags, session.id, (id) => core.tagOf(id)),
    version: session.version,
    createdAt: typeof session.createdAt === 'number' ? session.createdAt : null,
    lastActive: session.lastActive,
    device: describeDevice(session.device, core.options.deviceIp),
  };
}

/**
 * The live sessions of a user with their tags and devices, store failures as
 * `store_unavailable`.
 *
 * @param core - the shared state
 * @param user - the index key
 * @returns `{ id, tag, version, createdAt, lastActive, device }` of each
 * @example
 * await userSessions(core, 'u1')
 */
export async function userSessions(core: Core, user: string): Promise<UserSessionInfo[]> {
  return (await listSessions(core, user)).map((session) => infoOf(core, session));
}

/**
 * The sessions of a user without their ids, the current one marked: the current session
 * first, then the most recently active.
 *
 * @param core - the shared state
 * @param user - the index key, or undefined for a session without a user (no list)
 * @param current - the asking session's id, if it has one
 * @returns the devices
 * @example
 * await listDevices(core, 'u1', req.session.id)
 */
export async function listDevices(
  core: Core,
  user: string | undefined,
  current: string | undefined,
): Promise<UserDevice[]> {
  if (user === undefined) return [];
  const devices = (await listSessions(core, user)).map((session): UserDevice => {
    const { id, ...rest } = infoOf(core, session);
    return { ...rest, current: id === current };
  });
  return devices.sort((a, b) => Number(b.current) - Number(a.current) || b.lastActive - a.lastActive);
}

/**
 * Ends one session of a user, named by its tag, live on every node (its sockets get
 * `session:ended { reason: 'destroyed' }`); a tag that is not one of the user's live
 * sessions is `forbidden`.
 *
 * @param core - the shared state
 * @param user - the index key of the asking session's user, or undefined (then nothing is theirs)
 * @param tag - the tag, as the browser sent it (untrusted)
 * @returns when ended
 * @throws SessionSyncError `forbidden`, `store_unavailable`
 * @example
 * await revokeByTag(core, 'u1', req.body.tag)
 */
export async function revokeByTag(core: Core, user: string | undefined, tag: unknown): Promise<void> {
  const found =
    user !== undefined && typeof tag === 'string' && tag !== ''
      ? (await listSessions(core, user)).find((session) => remembered(tags, session.id, (id) => core.tagOf(id)) === tag)
      : undefined;
  if (!found) {
    throw new SessionSyncError('forbidden', 'session-sync: revoke(tag): no session of this user has that tag');
  }
  await core.destroy(found.id, 'destroyed');
}

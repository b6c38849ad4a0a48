/**
 * "Your devices" for the demo (issues 10 and 16): the JSON that lists the user's sessions
 * WITHOUT their ids (an id is the bearer secret of a cookie; a tag is safe to show), "Sign
 * out" of one of them by tag, "Sign out everywhere else", and a contentless nudge to a user's
 * open pages when that user's set of sessions may have changed.
 *
 * A session belongs to a browser and one browser's tabs share it, so "sessions" are what a
 * person calls devices.
 */

/** The Socket.IO event that asks a page to fetch `GET /api/devices` again. Carries nothing. */
export const DEVICES_EVENT = 'devices:changed';

const roomOf = (user) => `user:${user}`;

/** The user id of a session's data (the demo's option `user: 'user.id'`), or undefined. */
const userOf = (data) => (typeof data?.user?.id === 'string' ? data.user.id : undefined);

/**
 * Adds `GET /api/devices`, `POST /api/devices/revoke`, `POST /api/sign-out-others`, and the nudges.
 *
 * @param {object} demo
 * @param {import('express').Express} demo.app - the Express app, after `sync.express()` and the body parsers
 * @param {import('socket.io').Server} demo.io - the Socket.IO server, after `sync.attach(io)`
 * @param {import('../dist/server.js').SessionSync} demo.sync - the session layer (with the option `user`)
 * @param {(req: object, res: object, body: object) => void} demo.reply - answers JSON, or redirects a plain form post
 * @returns {void}
 * @example
 * addDevices({ app, io, sync, reply })
 */
export function addDevices({ app, io, sync, reply }) {
  // `{ user, devices: [{ tag, current, summary, createdAt, lastActive }], now }`: this user's
  // sessions, this one first. What the page shows is chosen here: the readable summary, not
  // the raw User-Agent. `now` lets the page say "3 min ago" whatever its own clock says.
  app.get('/api/devices', async (req, res, next) => {
    try {
      res.set('Cache-Control', 'no-store, private');
      const data = req.session.val;
      if (userOf(data) === undefined) return res.json({ user: null, devices: [], now: Date.now() });
      const devices = (await req.session.devices()).map(({ tag, current, device, createdAt, lastActive }) => ({
        tag,
        current,
        summary: device.summary,
        createdAt,
        lastActive,
      }));
      res.json({ user: { name: data.user.name }, devices, now: Date.now() });
    } catch (err) {
      next(err);
    }
  });

  app.post('/api/devices/revoke', async (req, res, next) => {
    try {
      // One session of this user ends, on every node: its pages are told `session:ended` and
      // wipe their caches. A tag that is not this user's is refused (403 forbidden).
      await req.session.revoke(req.body?.tag);
      reply(req, res, { ok: true });
    } catch (err) {
      next(err);
    }
  });

  app.post('/api/sign-out-others', async (req, res, next) => {
    try {
      // Every other session of this user ends, on every node; their pages are told
      // `session:ended` and wipe their caches. This session keeps its id and data.
      const ended = await req.session.logoutOthers();
      reply(req, res, { ended });
    } catch (err) {
      next(err);
    }
  });

  // Which user each session belongs to, for the sessions this node has heard of: an end
  // arrives as a bare id, after the record (and its user) is gone.
  const users = new Map();
  const nudge = (user) => io.to(roomOf(user)).emit(DEVICES_EVENT);

  io.on('connection', (socket) => {
    const user = userOf(socket.session.val);
    if (user === undefined) return;
    users.set(socket.session.id, user);
    socket.join(roomOf(user));
    // A new page of this user: maybe a new device (a sign-in's sockets reconnect under the
    // new id and land here). The others may list one more.
    socket.to(roomOf(user)).emit(DEVICES_EVENT);
  });

  // The change feed brings changes made on any node, so a sign-in on another node counts too.
  sync.on('change', (id, change) => {
    if (!change.ops.some((op) => op.path.length === 0 || op.path[0] === 'user')) return;
    sync.get(id).then(
      (stored) => {
        const before = users.get(id);
        const after = userOf(stored?.data);
        if (after === undefined) users.delete(id);
        else users.set(id, after);
        if (before !== undefined && before !== after) nudge(before);
        if (after !== undefined) nudge(after);
      },
      () => {}, // a store hiccup costs a nudge, not the process; the page refreshes on its own changes too
    );
  });

  sync.on('end', (id) => {
    const user = users.get(id);
    if (user === undefined) return;
    users.delete(id);
    nudge(user);
  });
}

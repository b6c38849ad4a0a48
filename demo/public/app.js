// The demo page. No framework: `SessionSync` comes from the IIFE build (package.json "unpkg")
// and `io` from the Socket.IO server's own client script.
(() => {
  'use strict';

  // One connection for the app's own events and the session: the SDK connects it when it is
  // ready (after its GET has given this visitor a cookie), so it is created unconnected.
  const socket = io({ autoConnect: false, reconnectionDelayMax: 2000 });
  const session = SessionSync.createSession({ socket });
  // For the curious (and the end-to-end tests): try `demo.session.data` in the console.
  window.demo = { session, socket };

  const $ = (id) => document.getElementById(id);
  const els = {
    status: $('status'),
    statusText: $('status-text'),
    pending: $('pending'),
    version: $('version'),
    data: $('data'),
    ended: $('ended'),
    signIn: $('sign-in'),
    signOut: $('sign-out'),
    userName: $('user-name'),
    error: $('error'),
    devices: $('devices'),
    deviceList: $('device-list'),
    signOutOthers: $('sign-out-others'),
  };

  // What GET /api/devices last said: this user's devices by tag (never ids: an id is the
  // bearer secret of a cookie), their times moved to this page's clock.
  let devices = null;
  let fetching = false;
  let again = false;

  // --- rendering

  function render(data) {
    const theme = data.prefs && typeof data.prefs.theme === 'string' ? data.prefs.theme : 'light';
    document.documentElement.dataset.theme = theme;
    for (const button of document.querySelectorAll('[data-theme-choice]')) {
      button.setAttribute('aria-pressed', String(button.dataset.themeChoice === theme));
    }
    const code = document.createElement('code');
    code.append(json(data, 0));
    els.data.replaceChildren(code);
    els.version.textContent = String(session.version);
    const user = data.user && typeof data.user.name === 'string' ? data.user.name : null;
    els.signIn.hidden = user !== null;
    els.signOut.hidden = user === null;
    els.userName.textContent = user ?? '';
    els.devices.hidden = user === null;
    // Signed out: what was known belongs to the last user, not the next one.
    if (user === null) devices = null;
    renderStatus();
  }

  function renderStatus() {
    const status = session.status;
    els.status.dataset.status = status;
    els.statusText.textContent = status;
    const pending = session.pending;
    els.pending.hidden = pending === 0;
    els.pending.textContent = `${pending} pending`;
    els.ended.hidden = status !== 'ended';
    document.body.classList.toggle('is-ended', status === 'ended');
  }

  // Pretty-printed JSON as DOM nodes (textContent only: a name typed by a visitor is data).
  function json(value, depth) {
    const frag = document.createDocumentFragment();
    const span = (cls, text) => {
      const s = document.createElement('span');
      s.className = cls;
      s.textContent = text;
      return s;
    };
    const pad = (n) => '  '.repeat(n);
    if (Array.isArray(value)) {
      if (value.length === 0) return span('p', '[]');
      frag.append('[\n');
      value.forEach((item, i) => {
        frag.append(pad(depth + 1), json(item, depth + 1), i < value.length - 1 ? ',\n' : '\n');
      });
      frag.append(pad(depth) + ']');
    } else if (value && typeof value === 'object') {
      const keys = Object.keys(value);
      if (keys.length === 0) return span('p', '{}');
      frag.append('{\n');
      keys.forEach((key, i) => {
        frag.append(pad(depth + 1), span('k', JSON.stringify(key)), ': ', json(value[key], depth + 1));
        frag.append(i < keys.length - 1 ? ',\n' : '\n');
      });
      frag.append(pad(depth) + '}');
    } else {
      const cls = typeof value === 'string' ? 's' : typeof value === 'number' ? 'n' : 'p';
      return span(cls, JSON.stringify(value));
    }
    return frag;
  }

  let flashTimer;
  session.subscribe((data) => {
    render(data);
    els.data.classList.remove('flash');
    // Restart the animation: reading offsetWidth forces the style change to apply first.
    void els.data.offsetWidth;
    els.data.classList.add('flash');
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => els.data.classList.remove('flash'), 700);
  });
  session.on('status', renderStatus);
  // An acknowledgement changes no data, only the pending count.
  session.on('pending', renderStatus);
  session.on('error', (err) => showError(err.message));

  function showError(message) {
    els.error.textContent = message;
    els.error.hidden = !message;
  }

  // --- the three ways

  async function post(path, body) {
    showError('');
    try {
      const res = await fetch(path, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify(body ?? {}),
      });
      const answer = await res.json().catch(() => ({}));
      if (!res.ok) showError(answer.message || answer.error || `The server answered ${res.status}`);
      return answer;
    } catch {
      showError('The server is unreachable right now.');
    }
  }

  $('http-add').addEventListener('click', () => post('/api/counter'));

  $('socket-add').addEventListener('click', () => {
    showError('');
    if (!socket.connected) return showError('The socket is not connected right now.');
    socket.timeout(5000).emit('counter:add', (err, answer) => {
      if (err || !answer?.ok) showError(answer?.message || 'The socket did not answer.');
    });
  });

  for (const button of document.querySelectorAll('[data-theme-choice]')) {
    button.addEventListener('click', () => {
      showError('');
      // Optimistic: shown now, kept in IndexedDB until the server has it.
      session.set('prefs.theme', button.dataset.themeChoice).catch(() => {});
      renderStatus();
    });
  }

  // --- account

  els.signIn.addEventListener('submit', async (event) => {
    event.preventDefault();
    const name = new FormData(els.signIn).get('name');
    const answer = await post('/api/sign-in', { name });
    if (answer && answer.user) els.signIn.reset();
  });

  els.signOut.addEventListener('submit', (event) => {
    event.preventDefault();
    post('/api/sign-out');
  });

  // --- your devices (issues 10 and 16)

  async function refreshDevices() {
    // Only while live: a fetch to an unreachable server would only fail (and log).
    if (els.devices.hidden || session.status !== 'live') return;
    if (fetching) return void (again = true);
    fetching = true;
    try {
      const res = await fetch('/api/devices', { headers: { Accept: 'application/json' } });
      const body = res.ok ? await res.json() : null;
      if (body && body.user) {
        // The server's `now` turns its timestamps into ages: the two clocks need not agree.
        const skew = Date.now() - body.now;
        devices = body.devices.map((d) => ({ ...d, lastActive: d.lastActive + skew, createdAt: d.createdAt + skew }));
      } else {
        devices = null;
      }
    } catch {
      // Offline meanwhile: the list keeps what it knew; the next change or status asks again.
    } finally {
      fetching = false;
      if (again) {
        again = false;
        refreshDevices();
      }
    }
    renderDevices();
  }

  function renderDevices() {
    const others = devices ? devices.filter((d) => !d.current).length : 0;
    els.signOutOthers.disabled = others === 0;
    if (!devices) return void els.deviceList.replaceChildren(item('…', '', null));
    els.deviceList.replaceChildren(
      ...devices.map((d) =>
        d.current
          ? item(d.summary, `this device · signed in ${ago(Date.now() - d.createdAt)}`, null)
          : item(d.summary, `active ${ago(Date.now() - d.lastActive)}`, d.tag),
      ),
    );
  }

  // One device: its name, when, and (for another device) its own sign-out button, a submit
  // of the form with its tag, so the page works without JavaScript too.
  function item(name, when, tag) {
    const li = document.createElement('li');
    li.className = 'device';
    const text = document.createElement('p');
    const strong = document.createElement('b');
    strong.textContent = name; // textContent only: a User-Agent is whatever the client sent
    const small = document.createElement('span');
    small.className = 'device-when';
    small.textContent = when;
    text.append(strong, small);
    li.append(text);
    if (tag !== null) {
      const button = document.createElement('button');
      button.type = 'submit';
      button.name = 'tag';
      button.value = tag;
      button.className = 'quiet small';
      button.textContent = 'Sign out';
      button.setAttribute('aria-label', `Sign out ${name}`);
      li.append(button);
    }
    return li;
  }

  function ago(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 5) return 'just now';
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    return `${Math.floor(s / 86400)} d ago`;
  }

  // This session's own changes (a sign-in among them), the page going live, and the server's
  // nudge when another session of this user begins or ends: each may change the list.
  session.on('change', refreshDevices);
  session.on('status', (status) => status === 'live' && refreshDevices());
  socket.on('devices:changed', refreshDevices);
  document.addEventListener('visibilitychange', () => document.visibilityState === 'visible' && refreshDevices());
  // "3 min ago" ages by itself; no request needed for that.
  setInterval(() => devices && renderDevices(), 5000);
  renderDevices();

  els.devices.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = event.submitter;
    if (!button) return;
    button.disabled = true;
    if (button === els.signOutOthers) await post('/api/sign-out-others');
    else await post('/api/devices/revoke', { tag: button.value });
    refreshDevices();
  });

  $('restart').addEventListener('click', () => location.reload());
})();

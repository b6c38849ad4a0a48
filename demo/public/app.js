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
  };

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

  $('restart').addEventListener('click', () => location.reload());
})();

import '../setup/env.js';
import { createElement, act } from 'react';
import { createRoot } from 'react-dom/client';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { useSession, useSessionStatus } from '../../src/react/index.js';
import { cleanup, fakeRoute, open, until } from '../support/fake-route.js';

let count = 0;
const unique = (): string => `react-test-${process.pid}-${count++}`;

function mount(render: () => string): { text(): string; renders(): number; unmount(): void } {
  const el = document.createElement('div');
  document.body.append(el);
  const root = createRoot(el);
  let renders = 0;
  const Probe = () => {
    renders++;
    return createElement('p', null, render());
  };
  act(() => root.render(createElement(Probe)));
  return {
    text: () => el.textContent ?? '',
    renders: () => renders,
    unmount: () => {
      act(() => root.unmount());
      el.remove();
    },
  };
}

// ---

const hooks = suite('useSession and useSessionStatus follow the mirror');
hooks.after.each(cleanup);

hooks('useSession(instance) renders the data and re-renders on change', async () => {
  const route = fakeRoute({ version: 1, tag: 'T', data: { name: 'Ann' } });
  const s = open<{ name?: string }>({
    initial: route.snapshot as never,
    fetch: route.fetch,
    socket: false,
    name: unique(),
    channel: false,
  });
  const view = mount(() => String(useSession(s).name));
  assert.is(view.text(), 'Ann');
  route.snapshot = { version: 2, tag: 'T', data: { name: 'Bob' } };
  await act(() => s.refresh());
  assert.is(view.text(), 'Bob');
  view.unmount();
  s.close();
});

hooks('with a selector, a change elsewhere does not re-render', async () => {
  const route = fakeRoute({ version: 1, tag: 'T', data: { prefs: { theme: 'dark' }, clicks: 1 } });
  const s = open({
    initial: route.snapshot,
    fetch: route.fetch,
    socket: false,
    name: unique(),
    channel: false,
  });
  const view = mount(() => JSON.stringify(useSession(s, (d) => d.prefs)));
  assert.is(view.text(), '{"theme":"dark"}');
  const before = view.renders();
  route.snapshot = { version: 2, tag: 'T', data: { prefs: { theme: 'dark' }, clicks: 2 } };
  await act(() => s.refresh());
  assert.is(s.data.clicks, 2);
  assert.is(view.renders(), before, 'the selected branch kept its reference');
  route.snapshot = { version: 3, tag: 'T', data: { prefs: { theme: 'light' }, clicks: 2 } };
  await act(() => s.refresh());
  assert.is(view.text(), '{"theme":"light"}');
  view.unmount();
  s.close();
});

hooks('useSessionStatus re-renders on status changes', async () => {
  const route = fakeRoute({ version: 1, tag: 'T', data: {} });
  const s = open({ fetch: route.fetch, socket: false, name: unique(), channel: false });
  const view = mount(() => useSessionStatus(s));
  await act(() => until(() => s.status === 'live', 'live'));
  assert.is(view.text(), 'live');
  route.offline = true;
  await act(() => s.refresh());
  assert.is(view.text(), 'offline');
  view.unmount();
  s.close();
});

hooks.run();

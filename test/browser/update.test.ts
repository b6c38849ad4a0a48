import '../setup/env.js';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cleanup, deadSocket, fakeRoute, open, until } from '../support/fake-route.js';

let count = 0;
const unique = (): string => `update-test-${process.pid}-${count++}`;

// ---

const guarded = suite('update(draft => …) never reaches a real prototype');
guarded.after.each(() => {
  cleanup();
  // A failing run must not leave the process polluted for the next tests.
  delete (Object.prototype as Record<string, unknown>).isAdmin;
  delete (Array.prototype as unknown as Record<string, unknown>).z;
});

guarded(
  '__proto__, constructor and prototype read as undefined at every level; writes through them throw',
  async () => {
    const route = fakeRoute({ version: 1, tag: 'T', data: { settings: { theme: 'dark' }, list: [1, 2] } });
    const s = open({ fetch: route.fetch, socket: deadSocket(), name: unique(), channel: false });
    await until(() => s.version === 1, 'the route answered');
    const attempts: Record<string, (d: Record<string, any>) => void> = {
      through: (d) => (d.settings['__proto__'].isAdmin = true),
      ctor: (d) => (d.settings.constructor.prototype.isAdmin = true),
      arrayConstructor: (d) => (d.list.constructor.prototype.z = 1),
      root: (d) => (d['__proto__'].isAdmin = true),
    };
    for (const [name, attack] of Object.entries(attempts)) {
      assert.throws(() => s.update(attack as never), TypeError, name);
    }
    assert.is(({} as Record<string, unknown>).isAdmin, undefined, 'Object.prototype untouched');
    assert.is(([] as unknown as Record<string, unknown>).z, undefined, 'Array.prototype untouched');
    assert.equal(s.data, { settings: { theme: 'dark' }, list: [1, 2] }, 'nothing written');
    // The draft is still usable data: array methods, spreads and plain writes work.
    void s
      .update((d: Record<string, any>) => {
        d.list.push(3);
        d.settings = { ...d.settings, lang: 'fr' };
      })
      .catch(() => undefined);
    assert.equal(s.data, { settings: { theme: 'dark', lang: 'fr' }, list: [1, 2, 3] });
  },
);

guarded.run();

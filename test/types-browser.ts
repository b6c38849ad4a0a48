/**
 * Type tests of the browser SDK and the React hooks: checked by `npx tsc -p tsconfig.json`,
 * never run. Each `@ts-expect-error` line must be an error.
 *
 * The app declares its session once, on the server's module (in an app: `declare module
 * 'session-sync'`); the browser types follow as the browser sees the data: without the
 * server-only top-level `_keys`. Augmentations are program-wide: the `browser*` names keep this
 * one apart from the other tests.
 */
import { createSession, session, type Session } from '../src/browser/index.js';
import { useSession, useSessionStatus } from '../src/react/index.js';

declare module '../src/server/index.js' {
  interface SessionData {
    browserPrefs?: { theme?: string };
    browserVisits?: number;
    _browserToken?: string;
  }
}

// The default instance, createSession() and useSession() all see SessionData.
const theme: string | undefined = session.data.browserPrefs?.theme;
const visits: number | undefined = createSession().data.browserVisits;
const picked: string | undefined = useSession((d) => d.browserPrefs?.theme);
const whole: number | undefined = useSession().browserVisits;
const status: 'loading' | 'cached' | 'live' | 'offline' | 'ended' | 'error' = useSessionStatus();

// @ts-expect-error a declared key keeps its type
const wrong: number | undefined = session.data.browserPrefs?.theme;
// @ts-expect-error in a selector too
const wrongPick: number | undefined = useSession((d) => d.browserPrefs?.theme);
// @ts-expect-error server-only keys are not part of the browser's type (only the index signature's JSON)
const token: string | undefined = session.data._browserToken;
// @ts-expect-error an optional key may be missing
const missing: string = session.data.browserPrefs.theme;
// @ts-expect-error data is read-only: writes go through set(), delete(), increment(), update()
session.data = {};

// Writes.
session.set('browserPrefs.theme', 'dark');
session.increment('browserVisits');
session.increment(['browserVisits'], -1);
// @ts-expect-error the step is a number
session.increment('browserVisits', '1');
session.update((draft) => {
  draft.browserVisits = (draft.browserVisits ?? 0) + 1;
});
session.update((draft) => {
  // @ts-expect-error the draft keeps the declared types
  draft.browserVisits = 'many';
});

// An instance of another shape, explicitly typed; interfaces are accepted, not only type aliases.
interface Cart {
  items?: string[];
}
const cart: Session<Cart> = createSession<Cart>({ route: '/cart/session' });
const items: number = useSession(cart, (d) => d.items?.length ?? 0);
const cartStatus = useSessionStatus(cart);
// @ts-expect-error a Cart has no browserPrefs
cart.data.browserPrefs;
// initial may come from an older server without epoch and expiresIn.
createSession<Cart>({ initial: { version: 1, tag: null, data: { items: [] } } });
createSession<Cart>({ initial: { version: 1, tag: 't', epoch: 5, expiresIn: 1000, data: {} } });
// @ts-expect-error initial data has the instance's shape
createSession<Cart>({ initial: { version: 1, tag: null, data: { items: 'none' } } });
// getServerSnapshot has the data's type.
const start: Cart = cart.getServerSnapshot();

void [theme, visits, picked, whole, status, wrong, wrongPick, token, missing, items, cartStatus, start];

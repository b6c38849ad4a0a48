/**
 * Browser globals for the browser and React tests, set up once: jsdom 29 for the DOM,
 * fake-indexeddb for IndexedDB. Node 20 brings fetch, BroadcastChannel, crypto and btoa
 * itself (jsdom has no fetch; the tests inject a cookie-aware one anyway).
 * Import this first in each test file.
 */
import 'fake-indexeddb/auto';
import { JSDOM } from 'jsdom';

const dom = new JSDOM('<!doctype html><html><head></head><body></body></html>', {
  url: 'http://localhost/',
  pretendToBeVisual: true,
});
const win = dom.window as unknown as Record<string, unknown>;

// Only what the SDK and React DOM read; Node's own globals (fetch, crypto, timers,
// BroadcastChannel, EventTarget) are kept.
for (const key of [
  'window',
  'document',
  'navigator',
  'location',
  'localStorage',
  'sessionStorage',
  'HTMLElement',
  'HTMLIFrameElement',
  'Element',
  'Node',
  'Text',
  'Event',
  'MouseEvent',
  'getComputedStyle',
  'requestAnimationFrame',
  'cancelAnimationFrame',
  'MutationObserver',
]) {
  if (key in globalThis && key !== 'window' && key !== 'document' && key !== 'location') continue;
  Object.defineProperty(globalThis, key, { value: win[key], configurable: true, writable: true });
}
(globalThis as Record<string, unknown>).IS_REACT_ACT_ENVIRONMENT = true;

export { dom };

import { parseSnapshot } from '../shared/index.js';
import type { Snapshot } from './types.js';

/** The link between tabs of one origin: whole snapshots with versions, never "please refetch". */
export interface Tabs {
  /** Tells the other tabs about a server state this tab reached (the sender updated itself already). */
  post(snapshot: Snapshot): void;
  /** Closes the channel (an open BroadcastChannel keeps Node alive, and leaks in a page). */
  close(): void;
}

/**
 * Opens the tab channel; without BroadcastChannel (old Safari, some workers) it does nothing.
 *
 * @param name - the channel name, or false for none
 * @param receive - called with each valid snapshot another tab posted
 * @returns the channel
 * @example
 * const tabs = openTabs('session-sync:/get/session', (s) => adoptIfNewer(s))
 */
export function openTabs(name: string | false, receive: (snapshot: Snapshot) => void): Tabs {
  if (!name || typeof BroadcastChannel !== 'function') return { post() {}, close() {} };
  const channel = new BroadcastChannel(name);
  channel.onmessage = (event: MessageEvent) => {
    // Another tab may run another version of this SDK: check like any inbound message.
    const parsed = parseSnapshot(event.data);
    if (parsed.ok) receive(parsed.value);
  };
  return { post: (snapshot) => channel.postMessage(snapshot), close: () => channel.close() };
}

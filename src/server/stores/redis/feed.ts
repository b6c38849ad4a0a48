/**
 * The change feed of `RedisStore`: one subscriber connection per node on one node-wide
 * channel (no per-session subscription that a fast first write could beat). On a Redis
 * Cluster the channel is a classic one: PUBLISH reaches every node of the cluster, so the
 * subscriber may sit on any node (ioredis picks one, and another when it fails). ioredis
 * replays the SUBSCRIBE after every reconnect (`autoResubscribe`); events published while
 * the link was down are lost, and the expiry watcher (watch.ts) catches the watched sessions
 * up from the patch history: at once when the channel is subscribed again, and on its
 * checks. A message that arrives after its change or end was caught up is dropped here, so
 * nothing reaches the listeners twice.
 */
import createDebug from 'debug';
import { END_REASONS, isPlainObject, type EndReason, type Op } from '../../../shared/index.js';
import { withEpoch } from '../common.js';
import type { StoreEvent } from '../store.js';
import type { RedisClient } from './client.js';

const debug = createDebug('session-sync:redis');

// How long a caught-up change or a reported end waits for its late copy from Redis.
const LATE_COPY_MS = 30_000;

const copyKey = (event: StoreEvent): string =>
  event.type === 'change' ? `c ${event.id} ${event.version}` : `e ${event.id}`;

/**
 * Reads one message of the channel; anything else than a well-formed event is dropped.
 *
 * @param text - the message as published (JSON text encoded by Node)
 * @returns the event, or undefined when malformed
 * @example
 * parseEvent('{"type":"end","id":"abc","reason":"expired"}') // { type: 'end', id: 'abc', reason: 'expired' }
 */
export function parseEvent(text: string): StoreEvent | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isPlainObject(v) || typeof v.id !== 'string') return undefined;
  if (v.type === 'end' && (END_REASONS as readonly unknown[]).includes(v.reason)) {
    return { type: 'end', id: v.id, reason: v.reason as EndReason };
  }
  const { version, base, ops, mutation } = v;
  if (
    v.type === 'change' &&
    Number.isSafeInteger(version) &&
    Number.isSafeInteger(base) &&
    Array.isArray(ops) &&
    (mutation === undefined || typeof mutation === 'string')
  ) {
    const event: StoreEvent = {
      type: 'change',
      id: v.id,
      version: version as number,
      base: base as number,
      ops: ops as unknown as Op[],
    };
    if (mutation !== undefined) event.mutation = mutation;
    return withEpoch(event, Number.isSafeInteger(v.epoch) ? (v.epoch as number) : undefined);
  }
  return undefined;
}

/** The listeners of one store and the subscriber connection that feeds them. */
export class ChangeFeed {
  private readonly listeners = new Set<(event: StoreEvent) => void>();
  private subscriber: RedisClient | undefined;
  /** Events delivered without the feed (caught up, or ends found by the watcher), by copyKey, with when. */
  private readonly early = new Map<string, number>();
  private subscribed: Promise<void> | undefined;
  private closed = false;

  /**
   * @param channel - the node-wide channel
   * @param connect - makes the subscriber connection (on the first `add`)
   * @param onEvent - sees every event from Redis before the listeners do (the expiry watcher)
   */
  constructor(
    private readonly channel: string,
    private readonly connect: () => RedisClient,
    private readonly onEvent: (event: StoreEvent) => void,
  ) {}

  /** Called each time the channel is subscribed again after a reconnect. */
  onResubscribed: () => void = () => undefined;

  /**
   * Adds a listener, connecting and subscribing on the first one.
   *
   * @param listener - called with every event
   * @returns the unsubscribe; calling it twice is harmless
   */
  add(listener: (event: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    if (!this.subscriber && !this.closed) this.start();
    return () => {
      this.listeners.delete(listener);
    };
  }

  /**
   * Resolves once the channel is subscribed (at once when nothing listens yet).
   *
   * @returns when subscribed
   */
  ready(): Promise<void> {
    return this.subscribed ?? Promise.resolve();
  }

  /**
   * Takes an event the watcher found without the feed (a change caught up from the history,
   * an end read from a tombstone) as if it had come from Redis; its own copy, should it still
   * arrive, is then dropped.
   *
   * @param event - the event
   */
  receive(event: StoreEvent): void {
    const now = Date.now();
    for (const [key, at] of this.early) {
      if (now - at < LATE_COPY_MS) break;
      this.early.delete(key);
    }
    const key = copyKey(event);
    this.early.delete(key);
    this.early.set(key, now);
    this.onEvent(event);
    this.deliver(event);
  }

  /**
   * Calls every listener with `event`; a listener that throws is logged, not rethrown.
   *
   * @param event - the event, from Redis or made on this node (an expiry it noticed)
   */
  deliver(event: StoreEvent): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (err) {
        debug('a store listener threw: %O', err);
      }
    }
  }

  /** Drops the subscriber connection; later `add`s no longer connect. */
  close(): void {
    this.closed = true;
    this.subscriber?.disconnect();
    this.subscriber = undefined;
  }

  private start(): void {
    const sub = this.connect();
    this.subscriber = sub;
    sub.on('error', (err: Error) => debug('subscriber connection: %s', err.message));
    sub.on('message', (channel: string, text: string) => {
      if (channel !== this.channel) return;
      const event = parseEvent(text);
      if (!event) return debug('ignored a malformed event on %s', channel);
      if (this.early.delete(copyKey(event))) return debug('dropped a late copy of %s', copyKey(event));
      this.onEvent(event);
      this.deliver(event);
    });
    // After a reconnect ioredis sends the SUBSCRIBE again but exposes no promise for it; our
    // own SUBSCRIBE on the same connection is answered after it, so once it resolves the
    // channel listens again and what was lost meanwhile can be caught up.
    let connected = false;
    sub.on('ready', () => {
      if (!connected) {
        connected = true;
        return;
      }
      sub.subscribe(this.channel).then(
        () => {
          debug('subscribed to %s again', this.channel);
          if (!this.closed) this.onResubscribed();
        },
        (err: unknown) => debug('subscribing again failed: %s', err instanceof Error ? err.message : err),
      );
    });
    // ioredis replays SUBSCRIBE after every reconnect; only a failed first one is ours to retry.
    const attempt = (): Promise<void> =>
      sub.subscribe(this.channel).then(
        () => debug('subscribed to %s', this.channel),
        (err: unknown) => {
          if (this.closed) return;
          debug('subscribe failed, retrying on reconnect: %s', err instanceof Error ? err.message : err);
          return new Promise<void>((resolve) => sub.once('ready', () => resolve(attempt())));
        },
      );
    this.subscribed = attempt();
  }
}

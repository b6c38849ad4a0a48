/**
 * The change feed of `RedisStore`: one subscriber connection per node on one node-wide
 * channel (no per-session subscription that a fast first write could beat). ioredis
 * replays the SUBSCRIBE after every reconnect (`autoResubscribe`); events published while
 * the link was down are lost, and the expiry watcher (redis-watch.ts) catches the watched
 * sessions up from the patch history: at once when the channel is subscribed again, and on
 * every check.
 */
import createDebug from 'debug';
import type { Redis } from 'ioredis';
import { END_REASONS, isPlainObject, type EndReason, type Op } from '../../../shared/index.js';
import { withEpoch } from '../common.js';
import type { StoreEvent } from '../store.js';

const debug = createDebug('session-sync:redis');

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
  private subscriber: Redis | undefined;
  private subscribed: Promise<void> | undefined;
  private closed = false;

  /**
   * @param channel - the node-wide channel
   * @param connect - makes the subscriber connection (on the first `add`)
   * @param onEvent - sees every event from Redis before the listeners do (the expiry watcher)
   */
  constructor(
    private readonly channel: string,
    private readonly connect: () => Redis,
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
   * Resolves once every message published before this call has arrived: a PING on the
   * subscriber connection is answered after them, in order. Resolves false when the
   * connection is not up (or does not answer within `timeout` ms) and nothing can be said.
   *
   * @param timeout - ms to wait for the answer
   * @returns whether the feed is known to be caught up with Redis
   * @example
   * const v = await readVersion(); if (await feed.barrier(1000)) compare(v, delivered)
   */
  barrier(timeout: number): Promise<boolean> {
    const sub = this.subscriber;
    // The subscriber's offline queue would hold a PING until the link is back.
    if (!sub || sub.status !== 'ready') return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeout);
      timer.unref();
      sub.ping().then(
        () => {
          clearTimeout(timer);
          resolve(true);
        },
        (err: unknown) => {
          clearTimeout(timer);
          debug('feed barrier failed: %s', err instanceof Error ? err.message : err);
          resolve(false);
        },
      );
    });
  }

  /**
   * Takes an event as if it had come from Redis (a change caught up from the history).
   *
   * @param event - the event
   */
  receive(event: StoreEvent): void {
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
      this.receive(event);
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

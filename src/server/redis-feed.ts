/**
 * The change feed of `RedisStore`: one subscriber connection per node on one node-wide
 * channel (no per-session subscription that a fast first write could beat). ioredis
 * replays the SUBSCRIBE after every reconnect (`autoResubscribe`); events published while
 * the link was down are lost, and mirrors catch up through their version check.
 */
import createDebug from 'debug';
import type { Redis } from 'ioredis';
import { END_REASONS, isPlainObject, type EndReason, type Op } from '../shared/index.js';
import type { StoreEvent } from './store.js';

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
    return event;
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
      this.onEvent(event);
      this.deliver(event);
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

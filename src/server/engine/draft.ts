/**
 * The mutable face of an immutable session: `req.session.val` and `socket.session.val`.
 *
 * Reads go through proxies that resolve their path against the current state every time,
 * so a handler always sees the latest committed data plus its own uncommitted edits.
 * Writes copy the touched nodes (copy-on-write) into a working tree; `take()` diffs that
 * tree against the state it started from and returns ops, so untouched branches — and
 * anything another writer changed meanwhile — are never overwritten.
 */
import { inspect } from 'node:util';
import {
  applyOps,
  cloneJson,
  covers,
  diff,
  FORBIDDEN_KEYS,
  isPlainObject,
  type JsonObject,
  type JsonValue,
  type Op,
} from '../../shared/index.js';

type Container = JsonObject | JsonValue[];

/**
 * What a proxy stands for: a path, resolved against the current state on every access —
 * until this draft replaces or removes what it stood for; then it keeps a copy of the value it
 * had, like a reference to a plain object would (`const arr = flash.error; delete
 * flash.error; arr` is still the array, as connect-flash expects).
 */
interface Ref {
  readonly draft: Draft;
  readonly path: readonly string[];
  readonly array: boolean;
  detached?: Container;
}

// A proxy's state lives on its target under this key, so one handler object serves every
// proxy (no closures per proxy: drafts are made per request).
const REF = Symbol('session-sync.ref');
type Target = (JsonObject | JsonValue[]) & { [REF]: Ref };

const PROXY_OF = new WeakMap<object, Ref>();

const isContainer = (v: unknown): v is Container => Array.isArray(v) || isPlainObject(v);
const copyOf = (v: Container): Container => (Array.isArray(v) ? v.slice() : { ...v });
const EMPTY: JsonObject = Object.freeze({}) as JsonObject;

/**
 * A tracked draft of one session's data.
 *
 * @example
 * const draft = new Draft(() => entry.data, () => scheduleCommit())
 * draft.proxy().cart = ['apple']
 * draft.take() // [{ op: 'set', path: ['cart'], value: ['apple'] }]
 */
export class Draft {
  private base: JsonObject | undefined;
  private root: JsonObject | undefined;
  // Ops already fixed in order: the edits before an increment, then the increment.
  private recorded: Op[] | undefined;
  // The nodes of the working tree this draft made (the rest is shared and never written).
  private readonly owned = new Set<object>();
  private proxies: Map<string, { proxy: object; ref: Ref }> | undefined;

  /**
   * @param view - the current state without this draft's edits (committed + in flight + defaults)
   * @param onWrite - called on every tracked write (schedules the commit)
   */
  constructor(
    private readonly view: () => JsonObject,
    private readonly onWrite: () => void,
  ) {}

  /** True when there are uncommitted edits. */
  get dirty(): boolean {
    return this.root !== undefined;
  }

  /** The state the handler sees: its edits over the current view. */
  current(): JsonObject {
    return this.root ?? this.view();
  }

  /** The proxy of the root. */
  proxy(): JsonObject {
    return this.proxyAt([], false) as JsonObject;
  }

  /**
   * Ends the draft: the ops that turn the state it started from into its working tree.
   *
   * @returns the ops (possibly holding non-JSON values: the caller checks them)
   */
  take(): Op[] {
    if (!this.root || !this.base) return [];
    const changes = diff(this.base, this.root);
    const ops = this.recorded ? [...this.recorded, ...changes] : changes;
    this.discard();
    return ops;
  }

  /** Drops the uncommitted edits. */
  discard(): void {
    this.base = undefined;
    this.root = undefined;
    this.recorded = undefined;
    this.owned.clear();
  }

  /**
   * Records an increment as an `inc` op, in order with the edits around it (`set` then
   * `inc`, `inc` then `set`), and shows its result at once.
   *
   * @param path - the keys
   * @param by - the step
   * @throws SessionSyncError `invalid` for a non-number at the path or a step that is not finite
   */
  increment(path: string[], by: number): void {
    this.begin();
    const inc: Op = { op: 'inc', path, by };
    const next = applyOps(this.root!, [inc]).data; // throws before anything is recorded
    (this.recorded ??= []).push(...diff(this.base!, this.root!), inc);
    // The increment's result is the new starting point: the edits after it are diffed from
    // there. Nothing is owned any more, so later writes copy and never touch `base`.
    this.base = next;
    this.owned.clear();
    this.root = { ...next };
    this.owned.add(this.root);
    this.onWrite();
  }

  /**
   * Replaces the whole data (for `req.session.val = {...}`).
   *
   * @param value - the new data
   */
  replace(value: unknown): void {
    // Checked before touching the draft: a refused replacement must leave the data as it was.
    const replacement = unwrap(value);
    if (!isPlainObject(replacement))
      throw new TypeError('session-sync: the session data must be replaced by a plain object');
    this.detach([]);
    this.begin();
    const root = this.root!;
    for (const key of Object.keys(root)) delete root[key];
    for (const key of Object.keys(replacement)) setOwn(root, key, replacement[key]);
    this.onWrite();
  }

  private begin(): void {
    if (this.root) return;
    this.base = this.view();
    this.root = { ...this.base };
    this.owned.add(this.root);
  }

  private resolve(path: readonly string[]): Container | undefined {
    let node: unknown = this.current();
    for (const key of path) {
      if (!isContainer(node) || !Object.prototype.hasOwnProperty.call(node, key)) return undefined;
      node = (node as JsonObject)[key];
    }
    return isContainer(node) ? node : undefined;
  }

  // The proxies at or under `prefix` stood for what is about to be replaced or removed: they
  // keep a copy of it, and a later read of that path gets a new proxy.
  private detach(prefix: readonly string[]): void {
    if (!this.proxies) return;
    for (const [key, { ref }] of this.proxies) {
      if (!covers(prefix, ref.path)) continue;
      ref.detached = cloneJson((this.resolve(ref.path) ?? (ref.array ? [] : {})) as JsonValue) as Container;
      this.proxies.delete(key);
    }
  }

  private writable(path: readonly string[]): Container {
    this.begin();
    let node: Container = this.root!;
    for (const key of path) {
      const record = node as JsonObject;
      let child = record[key] as unknown;
      if (!isContainer(child)) {
        // The object a proxy stood for was replaced or removed: writing recreates it.
        child = {};
        this.owned.add(child as object);
        record[key] = child as JsonValue;
      } else if (!this.owned.has(child)) {
        child = copyOf(child);
        this.owned.add(child as object);
        record[key] = child as JsonValue;
      }
      node = child as Container;
    }
    return node;
  }

  private proxyAt(path: readonly string[], array: boolean): object {
    const cacheKey = (array ? 'a' : 'o') + path.join('\u0000');
    const cached = (this.proxies ??= new Map()).get(cacheKey);
    if (cached) return cached.proxy;
    const ref: Ref = { draft: this, path, array };
    const target = (array ? [] : Object.create(INSPECTABLE)) as Target;
    // util.inspect formats a proxy's target, not the proxy: show the live data instead.
    if (array) Object.defineProperty(target, inspect.custom, { value: inspectRef, configurable: true });
    target[REF] = ref;
    const proxy = new Proxy(target, HANDLER);
    PROXY_OF.set(proxy, ref);
    this.proxies.set(cacheKey, { proxy, ref });
    return proxy;
  }

  /** @internal What a proxy's ref stands for now (its kept copy once detached). */
  nodeOf(ref: Ref): Container {
    return ref.detached ?? this.resolve(ref.path) ?? (ref.array ? [] : EMPTY);
  }

  /** @internal A proxy for a child of `ref`'s node (a plain value is returned as is). */
  childOf(ref: Ref, prop: string, value: unknown): unknown {
    // A kept copy hands out its own plain values.
    if (ref.detached) return value;
    if (Array.isArray(value)) return this.proxyAt([...ref.path, prop], true);
    if (isPlainObject(value)) return this.proxyAt([...ref.path, prop], false);
    return value;
  }

  /** @internal A write at `ref`'s path: to the session, or to the kept copy once detached (plain semantics). */
  writeAt(ref: Ref, prop: string, apply: (target: JsonObject) => void): true {
    if (ref.detached) {
      apply(ref.detached as JsonObject);
      return true;
    }
    this.detach([...ref.path, prop]);
    apply(this.writable(ref.path) as JsonObject);
    this.onWrite();
    return true;
  }
}

// util.inspect calls it on the proxy itself (it reads the method from the target).
function inspectRef(this: object, _depth: number, options: object): string {
  const ref = PROXY_OF.get(this) ?? (this as Target)[REF];
  return inspect(ref.draft.nodeOf(ref), options);
}

// The prototype of an object proxy's target: only for util.inspect.
const INSPECTABLE = Object.create(Object.prototype, { [inspect.custom]: { value: inspectRef } });

/** The one handler of every data proxy; a proxy's state is on its target. */
const HANDLER: ProxyHandler<Target> = {
  get(t, prop) {
    // The data behaves like null-prototype JSON here: a path through `__proto__`,
    // `constructor` or `prototype` never reaches a real prototype (settings[section][key]
    // with section = '__proto__' would pollute every object of the process).
    if (typeof prop === 'string' && FORBIDDEN_KEYS.has(prop)) return undefined;
    const ref = t[REF];
    const here = ref.draft.nodeOf(ref);
    const value = Reflect.get(here, prop) as unknown;
    // Prototype members (array methods, toString) and symbols pass through; array methods
    // then run against the proxy, so push/splice/sort are tracked too.
    if (typeof prop === 'symbol' || !Object.prototype.hasOwnProperty.call(here, prop)) return value;
    return ref.draft.childOf(ref, prop, value);
  },
  set(t, prop, value) {
    if (typeof prop === 'symbol') return false;
    const ref = t[REF];
    return ref.draft.writeAt(ref, prop, (to) => setOwn(to, prop, unwrap(value)));
  },
  deleteProperty(t, prop) {
    if (typeof prop === 'symbol') return false;
    const ref = t[REF];
    if (!Object.prototype.hasOwnProperty.call(ref.draft.nodeOf(ref), prop)) return true;
    return ref.draft.writeAt(ref, prop, (from) => delete from[prop]);
  },
  defineProperty(t, prop, descriptor) {
    if (typeof prop === 'symbol' || !('value' in descriptor)) return false;
    const ref = t[REF];
    return ref.draft.writeAt(ref, prop, (to) => setOwn(to, prop, unwrap(descriptor.value)));
  },
  has(t, prop) {
    const ref = t[REF];
    return prop in ref.draft.nodeOf(ref);
  },
  ownKeys(t) {
    const ref = t[REF];
    return Reflect.ownKeys(ref.draft.nodeOf(ref));
  },
  // A plain object, as far as anyone asks (the target's own prototype is only for inspect).
  getPrototypeOf(t) {
    return t[REF].array ? Array.prototype : Object.prototype;
  },
  getOwnPropertyDescriptor(t, prop): PropertyDescriptor | undefined {
    const ref = t[REF];
    const here = ref.draft.nodeOf(ref);
    const found = Reflect.getOwnPropertyDescriptor(here, prop);
    if (!found) return undefined;
    // An array target's `length` is non-configurable and must be reported so.
    if (ref.array && prop === 'length')
      return { value: (here as unknown[]).length, writable: true, enumerable: false, configurable: false };
    const value = typeof prop === 'string' ? HANDLER.get!(t, prop, undefined) : found.value;
    return { value, writable: true, enumerable: found.enumerable ?? true, configurable: true };
  },
};

/**
 * Replaces tracked proxies inside a value by the data they stand for, so assigning
 * `val.b = val.a` or `val.list = [...val.list, x]` stores data, not proxies.
 *
 * @param value - anything assigned by user code
 * @returns the value without proxies (the same object when it held none)
 */
export function unwrap(value: unknown): unknown {
  return unwrapIn(value, new Set(), 0);
}

// Past this depth a value is refused at commit anyway (limits.depth), so there is no proxy
// worth finding; stopping here keeps a pathologically deep value from overflowing the stack.
const UNWRAP_DEPTH = 1000;

function unwrapIn(value: unknown, ancestors: Set<object>, depth: number): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const ref = PROXY_OF.get(value);
  if (ref) return ref.detached ?? ref.draft['resolve'](ref.path) ?? (Array.isArray(value) ? [] : {});
  // A cycle is left as it is: the commit refuses it with a TypeError naming its path.
  if (ancestors.has(value) || depth > UNWRAP_DEPTH) return value;
  ancestors.add(value);
  try {
    if (Array.isArray(value)) {
      let out: unknown[] | undefined;
      for (let i = 0; i < value.length; i++) {
        const inner = unwrapIn(value[i], ancestors, depth + 1);
        if (inner !== value[i]) (out ??= value.slice())[i] = inner;
      }
      return out ?? value;
    }
    if (!isPlainObject(value)) return value;
    let out: Record<string, unknown> | undefined;
    for (const key of Object.keys(value)) {
      const inner = unwrapIn(value[key], ancestors, depth + 1);
      if (inner !== value[key]) setOwn((out ??= { ...value }), key, inner);
    }
    return out ?? value;
  } finally {
    ancestors.delete(value);
  }
}

/**
 * Writes an own property, even `__proto__` (which plain assignment would turn into a
 * prototype change): the key then reaches the commit, which refuses it as `invalid`.
 */
function setOwn(node: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__')
    Object.defineProperty(node, key, { value, writable: true, enumerable: true, configurable: true });
  else node[key] = value;
}

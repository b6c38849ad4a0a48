/**
 * The property that holds a session's data on a handle (`req.session.val`, or the key an app
 * chose): the check of its name, and the accessor, put on a subclass's prototype once per
 * (class, key) rather than on each handle (handles are made per request).
 */
import type { JsonObject } from '../../shared/index.js';

/** What a data accessor reads and writes through. */
export interface DataHolder {
  /** The tracked data (throws while the session could not be loaded). */
  tracked(): JsonObject;
  /** Replaces the whole data (`req.session.val = {...}`). */
  replaceData(value: unknown): void;
}

const KEYED = Symbol('session-sync.key');

/**
 * Checks the name of the data property (`req.session[key]`, `socket.session[key]`): a
 * non-empty string that does not hide a member of the session (`id`, `destroy`, `toJSON`, an
 * internal field…) or of every object. `data`, the seed's own example key, is free.
 *
 * @param key - the proposed key
 * @param name - how the message names it (`option "key"`, `express(defaults, key)`)
 * @param probe - a handle of the kind the key will be put on
 * @param where - how the handle is reached, for the message (`req.session`, `socket.session`)
 * @throws TypeError naming it
 * @example
 * checkDataKey('data', 'option "key"', httpProbe(core), 'req.session') // fine
 * checkDataKey('destroy', 'option "key"', httpProbe(core), 'req.session') // TypeError
 */
export function checkDataKey(key: unknown, name: string, probe: object, where: string): asserts key is string {
  if (typeof key !== 'string' || key === '') throw new TypeError(`session-sync: ${name} must be a non-empty string`);
  if (key in probe) {
    throw new TypeError(
      `session-sync: ${name} cannot be ${JSON.stringify(key)}: ${where}.${key} is taken by ${where} itself; pick another key`,
    );
  }
}

const dataAccessor: PropertyDescriptor = {
  enumerable: true,
  configurable: true,
  get(this: DataHolder) {
    return this.tracked();
  },
  set(this: DataHolder, value: unknown) {
    this.tracked();
    this.replaceData(value);
  },
};

/**
 * Gives a handle its data accessor for `key`, unless its class (made by {@link keyedClass})
 * has it on the prototype already.
 *
 * @param handle - the new handle
 * @param key - the data's property name
 */
export function installDataKey(handle: DataHolder, key: string): void {
  if ((handle.constructor as { [KEYED]?: string })[KEYED] !== key) Object.defineProperty(handle, key, dataAccessor);
}

const keyedClasses = new WeakMap<object, Map<string, unknown>>();

/**
 * A subclass of `Base` whose prototype holds the data accessor for `key`, made once per
 * (class, key): handles are made per request, and a defineProperty on each was measurable.
 *
 * @param Base - HttpSession or SocketSession
 * @param key - the data's property name
 * @returns the subclass (cached)
 * @example
 * const Session = keyedClass(HttpSession, 'val')
 */
export function keyedClass<C extends abstract new (...args: never[]) => DataHolder>(Base: C, key: string): C {
  let byKey = keyedClasses.get(Base);
  if (!byKey) keyedClasses.set(Base, (byKey = new Map()));
  let Keyed = byKey.get(key) as C | undefined;
  if (!Keyed) {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    Keyed = class extends (Base as unknown as new (...args: any[]) => object) {
      static readonly [KEYED] = key;
    } as unknown as C;
    Object.defineProperty(Keyed.prototype, key, dataAccessor);
    Object.defineProperty(Keyed, 'name', { value: Base.name });
    byKey.set(key, Keyed);
  }
  return Keyed;
}

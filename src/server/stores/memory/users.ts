/**
 * The user index of a MemoryStore: the ids of each user's sessions. The store moves a
 * session in it in the same step as the change that names its user.
 */

/**
 * Session ids by user.
 *
 * @example
 * const users = new UserIndex()
 * users.move(id, undefined, 'u1')
 * users.of('u1') // Set { id }
 */
export class UserIndex {
  private readonly byUser = new Map<string, Set<string>>();

  /**
   * The ids of a user's sessions.
   *
   * @param user - the user id
   * @returns the ids (live ones; expired ones are dropped by the store as it meets them)
   */
  of(user: string): ReadonlySet<string> | undefined {
    return this.byUser.get(user);
  }

  /**
   * Moves a session from one user to another (`undefined`: no user).
   *
   * @param id - the session id
   * @param from - its user until now
   * @param to - its user from now on
   */
  move(id: string, from: string | undefined, to: string | undefined): void {
    if (from === to) return;
    if (from !== undefined) {
      const ids = this.byUser.get(from);
      ids?.delete(id);
      if (ids?.size === 0) this.byUser.delete(from);
    }
    if (to === undefined) return;
    let ids = this.byUser.get(to);
    if (!ids) this.byUser.set(to, (ids = new Set()));
    ids.add(id);
  }
}

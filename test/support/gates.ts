/**
 * Gates for race tests: a request (or any server code) waits at a named gate until the test
 * opens it, so the test can put another action exactly between its read and its write.
 */

/**
 * Named gates: a request calls `wait(name)` and stays there until the test calls
 * `open(name)`; the test learns that a request arrived with `arrived(name)`.
 *
 * @example
 * const g = new Gates(); const reached = g.arrived('w'); ...; await reached; g.open('w')
 */
export class Gates {
  private readonly waiting = new Map<
    string,
    { reached: () => void; released: Promise<void>; release: () => void; arrival: Promise<void> }
  >();

  private gate(name: string) {
    let gate = this.waiting.get(name);
    if (!gate) {
      let reached!: () => void;
      let release!: () => void;
      const arrival = new Promise<void>((r) => (reached = r));
      const released = new Promise<void>((r) => (release = r));
      gate = { reached, release, released, arrival };
      this.waiting.set(name, gate);
    }
    return gate;
  }

  /** Called by a request: marks the arrival, resolves when the test opens the gate. */
  wait(name: string): Promise<void> {
    const gate = this.gate(name);
    gate.reached();
    return gate.released;
  }

  /** Resolves once a request waits at `name`. */
  arrived(name: string): Promise<void> {
    return this.gate(name).arrival;
  }

  /** Lets the requests waiting at `name` go on. */
  open(name: string): void {
    this.gate(name).release();
  }
}

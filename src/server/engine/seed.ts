/**
 * The seed's `synchronize({ model, target })`: accepted and checked, since both sides are one
 * session now and it is simply a commit.
 */
/** What the seed's `synchronize({ model, target })` accepts, normalized. */
const MODELS: Record<string, 'http' | 'tcp'> = {
  http: 'http',
  https: 'http',
  http2: 'http',
  exp: 'http',
  express: 'http',
  app: 'http',
  tcp: 'tcp',
  'tcp/ip': 'tcp',
  udp: 'tcp',
  socket: 'tcp',
  'socket.io': 'tcp',
};

/** The seed's `synchronize` argument: both sides are one session now, so it is a commit. */
export interface SynchronizeOptions {
  model?: string;
  target?: string;
}

/**
 * Checks the seed's `synchronize({ model, target })` argument.
 *
 * @param options - `{ model, target }` or nothing
 * @throws TypeError for anything but the seed's names (`http`, `express`, `tcp`, `socket.io`…)
 * @example
 * checkSeedOptions({ model: 'http', target: 'tcp' }) // fine
 */
export function checkSeedOptions(options: SynchronizeOptions | undefined): void {
  if (options === undefined || options === null) return;
  if (typeof options !== 'object')
    throw new TypeError('session-sync: synchronize() takes { model, target } or nothing');
  for (const name of ['model', 'target'] as const) {
    const value = options[name];
    if (value === undefined) continue;
    if (typeof value !== 'string' || !MODELS[value.toLowerCase()]) {
      throw new TypeError(
        `session-sync: synchronize({ ${name} }) must be one of ${Object.keys(MODELS).join(', ')} (got ${JSON.stringify(value)})`,
      );
    }
  }
}

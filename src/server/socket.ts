// Placeholder: the Socket.IO side lands with issue 4.
import type { JsonObject } from '../shared/index.js';
import type { Core } from './core.js';

/** @internal */
export function createSocketMiddleware(_core: Core, _defaults: JsonObject, _key: string): (socket: unknown, next: (err?: Error) => void) => void {
  throw new Error('session-sync: socketIO() is not built yet');
}

/** @internal */
export function attachToServer(_core: Core, _io: unknown, _defaults: JsonObject, _key: string): void {
  throw new Error('session-sync: attach() is not built yet');
}

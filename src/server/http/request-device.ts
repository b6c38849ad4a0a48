/**
 * The device note of an HTTP request: its `User-Agent`, and with the option `deviceIp` its
 * client address as Express says it (`req.ip`, which follows the app's `trust proxy`).
 */
import type { IncomingMessage } from 'node:http';
import { deviceNote } from '../engine/device-notes.js';
import type { DeviceNote } from '../stores/store.js';

/**
 * What a request says about the client.
 *
 * @param req - the request (Express adds `ip`; a bare Node request falls back to its socket's address)
 * @param deviceIp - option `deviceIp`
 * @returns the note
 * @example
 * requestDevice(req, false) // { userAgent: 'Mozilla/5.0 …' }
 */
export function requestDevice(req: IncomingMessage & { ip?: string }, deviceIp: boolean): DeviceNote {
  return deviceNote(req.headers['user-agent'], deviceIp ? (req.ip ?? req.socket?.remoteAddress) : undefined);
}

/**
 * A readable name for a `User-Agent` header: "Chrome on macOS", "Firefox on Android",
 * "Safari on iOS". Server-only (the browser bundle never carries it).
 *
 * Dependency-free on purpose: a device list needs the browser family and the operating
 * system, which a dozen ordered patterns answer, while the parser packages carry a database
 * of thousands of devices (tens of KB, updated monthly, and ua-parser-js 2.x is AGPL) that
 * every server installing session-sync would then install too. Versions are left out: they
 * change every few weeks and mean little to a person choosing which device to sign out.
 */
import { MAX_USER_AGENT } from './device-notes.js';

// Order matters: Edge, Opera, Samsung Internet and the rest also say "Chrome/", and Chrome
// also says "Safari/".
const BROWSERS: readonly (readonly [RegExp, string])[] = [
  [/\bEdg(?:e|A|iOS)?\//, 'Edge'],
  [/\b(?:OPR|OPiOS|Opera)\//, 'Opera'],
  [/\bSamsungBrowser\//, 'Samsung Internet'],
  [/\bYaBrowser\//, 'Yandex Browser'],
  [/\bVivaldi\//, 'Vivaldi'],
  [/\b(?:Firefox|FxiOS)\//, 'Firefox'],
  [/\bHeadlessChrome\//, 'Headless Chrome'],
  [/\b(?:Chrome|CriOS|Chromium)\//, 'Chrome'],
  [/\bVersion\/[\d.]+ (?:Mobile\/\w+ )?Safari\//, 'Safari'],
  [/\bMSIE |\bTrident\//, 'Internet Explorer'],
];

// iOS before macOS ("like Mac OS X"), Android and ChromeOS before Linux.
const SYSTEMS: readonly (readonly [RegExp, string])[] = [
  [/\b(?:iPhone|iPad|iPod)\b/, 'iOS'],
  [/\bAndroid\b/, 'Android'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\bWindows\b/, 'Windows'],
  [/\bMac OS X\b|\bMacintosh\b/, 'macOS'],
  [/\bLinux\b/, 'Linux'],
];

// Programs that are not browsers and say so in their first word.
const PROGRAMS: readonly (readonly [RegExp, string])[] = [
  [/^curl\//i, 'curl'],
  [/^Wget\//i, 'Wget'],
  [/^(?:node|undici)\b/i, 'Node.js'],
  [/^PostmanRuntime\//, 'Postman'],
  [/^(?:python-requests|Python-urllib|python-httpx|aiohttp)\b/i, 'Python'],
  [/^Go-http-client\//, 'Go'],
  [/^okhttp\//i, 'OkHttp'],
  [/bot\b|crawler|spider/i, 'Bot'],
];

const first = (table: readonly (readonly [RegExp, string])[], text: string): string | undefined =>
  table.find(([pattern]) => pattern.test(text))?.[1];

/**
 * Names the browser and operating system a `User-Agent` header describes.
 *
 * @param userAgent - the raw header (or undefined when the client sent none)
 * @returns `"<browser> on <system>"`, a program's name (`"curl"`), an app's own name as its
 *   first product token says it (`"MyApp on iOS"`), or `"Unknown device"`
 * @example
 * summarizeUserAgent('Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36')
 * // 'Chrome on macOS'
 */
export function summarizeUserAgent(userAgent: string | undefined): string {
  // Patterns run on the characters a note keeps: every real header fits, and the cost is bounded.
  const text = userAgent?.slice(0, MAX_USER_AGENT).trim() ?? '';
  if (text === '') return 'Unknown device';
  const browser = first(BROWSERS, text);
  const system = first(SYSTEMS, text);
  if (browser) return system ? `${browser} on ${system}` : browser;
  const program = first(PROGRAMS, text);
  if (program) return program;
  // Every browser starts with "Mozilla/"; anything else names itself first ("MyApp/2.1 (…)").
  const token = text.startsWith('Mozilla/') ? undefined : /^[A-Za-z][\w.-]{0,39}/.exec(text)?.[0];
  if (token) return system ? `${token} on ${system}` : token;
  return system ? `A browser on ${system}` : 'Unknown device';
}

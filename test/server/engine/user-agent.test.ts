// The readable device name of a User-Agent header ("Chrome on macOS"), as the device list shows it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { summarizeUserAgent } from '../../../src/server/engine/user-agent.js';
import { AGENTS } from '../../support/devices.js';

// ---

const browsers = suite('a browser is named by its family and operating system');

browsers('the browsers people use, on the systems they run on', () => {
  const cases: [string, string][] = [
    [AGENTS.chromeMac, 'Chrome on macOS'],
    [AGENTS.chromeWindows, 'Chrome on Windows'],
    [AGENTS.chromeAndroid, 'Chrome on Android'],
    [AGENTS.chromeIos, 'Chrome on iOS'],
    [AGENTS.firefoxAndroid, 'Firefox on Android'],
    [AGENTS.firefoxLinux, 'Firefox on Linux'],
    [AGENTS.firefoxIos, 'Firefox on iOS'],
    [AGENTS.safariIphone, 'Safari on iOS'],
    [AGENTS.safariIpad, 'Safari on iOS'],
    [AGENTS.safariMac, 'Safari on macOS'],
    [AGENTS.edgeWindows, 'Edge on Windows'],
    [AGENTS.operaWindows, 'Opera on Windows'],
    [AGENTS.samsungAndroid, 'Samsung Internet on Android'],
    [AGENTS.chromeOs, 'Chrome on ChromeOS'],
    [AGENTS.headless, 'Headless Chrome on Linux'],
    ['Mozilla/5.0 (Windows NT 10.0; Trident/7.0; rv:11.0) like Gecko', 'Internet Explorer on Windows'],
  ];
  for (const [agent, name] of cases) assert.is(summarizeUserAgent(agent), name, agent);
});

browsers.run();

// ---

const others = suite('anything else gets an honest name, never a guess');

others('programs are named by what they are', () => {
  assert.is(summarizeUserAgent('curl/8.5.0'), 'curl');
  assert.is(summarizeUserAgent('node'), 'Node.js');
  assert.is(summarizeUserAgent('Wget/1.21.4'), 'Wget');
  assert.is(summarizeUserAgent('python-requests/2.32.3'), 'Python');
  assert.is(summarizeUserAgent('Go-http-client/1.1'), 'Go');
  assert.is(summarizeUserAgent('PostmanRuntime/7.39.0'), 'Postman');
  assert.is(summarizeUserAgent('Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)'), 'Bot');
});

others('an app names itself by its first product token; a known system without a known browser says so', () => {
  assert.is(summarizeUserAgent('MyShop/4.2 (iPhone; iOS 17.5)'), 'MyShop on iOS');
  assert.is(summarizeUserAgent('internal-cron/1.0'), 'internal-cron');
  assert.is(summarizeUserAgent('Mozilla/5.0 (X11; Linux x86_64) SomeBrowser'), 'A browser on Linux');
});

others('no header, an empty one or noise is an unknown device', () => {
  assert.is(summarizeUserAgent(undefined), 'Unknown device');
  assert.is(summarizeUserAgent(''), 'Unknown device');
  assert.is(summarizeUserAgent('   '), 'Unknown device');
  assert.is(summarizeUserAgent('Mozilla/5.0'), 'Unknown device');
  assert.is(summarizeUserAgent('<script>'), 'Unknown device');
});

others('a very long header is answered at once', () => {
  const start = performance.now();
  assert.is(summarizeUserAgent('Mozilla/5.0 ' + 'Version/1 '.repeat(2000)), 'Unknown device');
  assert.ok(performance.now() - start < 50, 'no pathological backtracking');
});

others.run();

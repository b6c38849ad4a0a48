/**
 * The Lua scripts of `RedisStore`. None of them decodes or encodes a session value: Redis'
 * Lua cjson turns `[]` into `{}` and cuts numbers to 14 digits, so data, patches and events
 * arrive as JSON text encoded by Node and are stored or published as opaque strings. Lua
 * only compares versions, moves counters and sets lifetimes.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/** A script with its SHA-1, for EVALSHA. */
export interface LuaScript {
  name: string;
  text: string;
  sha: string;
}

function script(name: string, text: string): LuaScript {
  return { name, text, sha: createHash('sha1').update(text).digest('hex') };
}

// Integers go through string.format: Redis turns a Lua number argument into text with a
// float formatter, and PEXPIREAT/HSET readers expect plain integers.
const PRELUDE = `
if redis.replicate_commands then redis.replicate_commands() end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local function int(n) return string.format('%d', n) end
-- Gives KEYS[1..4] (every key of the session) the same lifetime and moves the session in
-- the user index, whose key then lives as long as its longest-lived member.
local function refresh(id, prefix, ttl, deadline, user, olduser)
  local pexp = math.max(1, math.min(ttl, deadline - now))
  for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], int(pexp)) end
  if olduser and olduser ~= user then redis.call('ZREM', prefix .. 'u:' .. olduser, id) end
  if user then
    local z = prefix .. 'u:' .. user
    redis.call('ZADD', z, int(now + pexp), id)
    local top = redis.call('ZRANGE', z, -1, -1, 'WITHSCORES')
    redis.call('PEXPIREAT', z, int(tonumber(top[2])))
  end
  return pexp
end
-- Replaces the device note ('ua', 'ip' fields of the record hash; '' = none) when asked.
-- Beside the data: no version, no history, no event.
local function note(key, mode, ua, ip)
  if mode ~= 'note' then return end
  if ua == '' then redis.call('HDEL', key, 'ua') else redis.call('HSET', key, 'ua', ua) end
  if ip == '' then redis.call('HDEL', key, 'ip') else redis.call('HSET', key, 'ip', ip) end
end
`;

/**
 * Compare-and-set of one change. KEYS: record, history, mutations, order, born.
 * ARGV: 1 id, 2 prefix, 3 expected version (0 = no record), 4 changed '1'|'0', 5 data text,
 * 6 patch text, 7 event text, 8 channel, 9 mutation id or '', 10 ttl ms, 11 absolute ms,
 * 12 history length, 13 mutation memory, 14 user mode 'keep'|'set', 15 user or '',
 * 16 condition ''|'exists'|'adopt', 17 end of the adoption window (epoch ms, for 'adopt'),
 * 18 the creation time to record when this apply creates the record (epoch ms),
 * 19 'note' to replace the device note with 20 (User-Agent or '') and 21 (IP or ''), else ''.
 * Answers `{'dup', '<version>'}` (the version the id was first applied at),
 * `{'conflict', '<version>'}`, `{'ended'}` (the condition refused: no record may be created)
 * or `{'ok', '<version>', '<changed>', '<epoch>', '<idle deadline>'}`. The mutation check
 * comes first and in the same script as the CAS, so a replay through another node is
 * applied once; the condition is decided here too, so no race can revive an ended id: a
 * record is created by adoption at most once per id (the born key, kept until the window
 * closes) and only before the window closes.
 */
export const APPLY = script(
  'apply',
  `${PRELUDE}
local id, prefix, mutation = ARGV[1], ARGV[2], ARGV[9]
if mutation ~= '' then
  local seen = redis.call('HGET', KEYS[3], mutation)
  if seen then return {'dup', seen} end
end
local current = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if current ~= tonumber(ARGV[3]) then return {'conflict', int(current)} end
local changed = ARGV[4] == '1'
if current == 0 and not changed then return {'ok', '0', '0', '', ''} end
local absolute = tonumber(ARGV[11])
local deadline
if current == 0 then
  if ARGV[16] == 'exists' then return {'ended'} end
  if ARGV[16] == 'adopt' then
    local closes = tonumber(ARGV[17])
    if now >= closes or redis.call('EXISTS', KEYS[5]) == 1 then return {'ended'} end
    redis.call('SET', KEYS[5], 'live', 'PX', int(closes - now))
  end
  -- The creation time comes from the node (it is in the event published below already).
  deadline = tonumber(ARGV[18]) + absolute
  redis.call('HSET', KEYS[1], 'c', ARGV[18])
else
  local created = tonumber(redis.call('HGET', KEYS[1], 'c')) or now
  deadline = math.min(tonumber(redis.call('HGET', KEYS[1], 'a')) or (created + absolute), created + absolute)
end
redis.call('HSET', KEYS[1], 'a', int(deadline), 't', int(now))
note(KEYS[1], ARGV[19], ARGV[20], ARGV[21])
local version = current
if changed then
  version = current + 1
  redis.call('HSET', KEYS[1], 'd', ARGV[5], 'v', int(version))
  redis.call('RPUSH', KEYS[2], ARGV[6])
  redis.call('LTRIM', KEYS[2], int(-tonumber(ARGV[12])), -1)
end
if mutation ~= '' then
  redis.call('HSET', KEYS[3], mutation, int(version))
  redis.call('RPUSH', KEYS[4], mutation)
  for _ = 1, redis.call('LLEN', KEYS[4]) - tonumber(ARGV[13]) do
    redis.call('HDEL', KEYS[3], redis.call('LPOP', KEYS[4]))
  end
end
local olduser = redis.call('HGET', KEYS[1], 'u')
local user = olduser
if ARGV[14] == 'set' then
  if ARGV[15] == '' then
    user = false
    redis.call('HDEL', KEYS[1], 'u')
  else
    user = ARGV[15]
    redis.call('HSET', KEYS[1], 'u', user)
  end
end
local pexp = refresh(id, prefix, tonumber(ARGV[10]), deadline, user, olduser)
if changed then redis.call('PUBLISH', ARGV[8], ARGV[7]) end
return {'ok', int(version), changed and '1' or '0', redis.call('HGET', KEYS[1], 'c') or '', int(now + pexp)}
`,
);

/**
 * Refreshes the idle lifetime (bounded by the absolute deadline) and the user-index score,
 * and replaces the device note when asked. KEYS: record, history, mutations, order.
 * ARGV: 1 id, 2 prefix, 3 ttl ms, 4 'note' or '', 5 User-Agent or '', 6 IP or ''. Answers 1 or 0.
 */
export const TOUCH = script(
  'touch',
  `${PRELUDE}
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local deadline = tonumber(redis.call('HGET', KEYS[1], 'a')) or (now + tonumber(ARGV[3]))
redis.call('HSET', KEYS[1], 't', int(now))
note(KEYS[1], ARGV[4], ARGV[5], ARGV[6])
local user = redis.call('HGET', KEYS[1], 'u')
refresh(ARGV[1], ARGV[2], tonumber(ARGV[3]), deadline, user, user)
return 1
`,
);

/**
 * Deletes every key of a session and its user-index membership, leaves a tombstone, records
 * the reason in the born key (when the id has one), and publishes the end event now unless
 * it is deferred ('' = deferred). The tombstone holds the reason once the end is announced
 * ('pending' until then), so an expiry watcher whose feed missed the announcement can still
 * end its sockets with the right reason.
 * KEYS: record, history, mutations, order, tombstone, born.
 * ARGV: 1 id, 2 prefix, 3 tombstone ms, 4 channel, 5 event text or '', 6 reason.
 * Answers `{ existed 1|0, data text, version, user, epoch }` of the record as it was.
 */
export const DESTROY = script(
  'destroy',
  `
local existed = redis.call('EXISTS', KEYS[1])
local was = redis.call('HMGET', KEYS[1], 'd', 'v', 'u', 'c')
local user = was[3]
if user then redis.call('ZREM', ARGV[2] .. 'u:' .. user, ARGV[1]) end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
redis.call('SET', KEYS[5], ARGV[5] ~= '' and ARGV[6] or 'pending', 'PX', ARGV[3])
local left = redis.call('PTTL', KEYS[6])
if left > 0 then redis.call('SET', KEYS[6], ARGV[6], 'PX', left) end
if ARGV[5] ~= '' then redis.call('PUBLISH', ARGV[4], ARGV[5]) end
return {existed, was[1] or '', was[2] or '', was[3] or '', was[4] or ''}
`,
);

/**
 * Announces a deferred end: records the reason in the tombstone (when it is still there)
 * and publishes the event. KEYS: tombstone. ARGV: 1 reason, 2 channel, 3 event text.
 */
export const ANNOUNCE = script(
  'announce',
  `
-- PTTL + PX rather than KEEPTTL, which needs Redis 6.
local left = redis.call('PTTL', KEYS[1])
if left > 0 then redis.call('SET', KEYS[1], ARGV[1], 'PX', left) end
return redis.call('PUBLISH', ARGV[2], ARGV[3])
`,
);

/**
 * The live sessions of one user: prunes members whose expiry score has passed (set members
 * do not expire by themselves) and members whose record is gone or names another user.
 * KEYS: the user's zset. ARGV: 1 prefix, 2 user. Answers a flat list of six per session: id,
 * version, lastActive, created, User-Agent, IP ('' for a field the record lacks).
 */
export const SESSIONS_OF = script(
  'sessionsOf',
  `${PRELUDE}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', int(now))
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local f = redis.call('HMGET', ARGV[1] .. 's:' .. id, 'v', 't', 'u', 'c', 'ua', 'ip')
  if f[1] and f[3] == ARGV[2] then
    out[#out + 1] = id
    out[#out + 1] = f[1]
    out[#out + 1] = f[2] or '0'
    out[#out + 1] = f[4] or ''
    out[#out + 1] = f[5] or ''
    out[#out + 1] = f[6] or ''
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
`,
);

/**
 * The current version and the whole history, read together. KEYS: record, history.
 * Answers `{ '<version or 0>', patch text, ... }`.
 */
export const SINCE = script(
  'since',
  `
local out = redis.call('LRANGE', KEYS[2], 0, -1)
table.insert(out, 1, redis.call('HGET', KEYS[1], 'v') or '0')
return out
`,
);

/**
 * Runs a script by SHA, falling back to EVAL when Redis lost its script cache (a restart,
 * SCRIPT FLUSH, a failover). NOSCRIPT means nothing ran, so the fallback cannot apply twice.
 *
 * @param client - the command connection
 * @param lua - the script
 * @param keys - KEYS
 * @param args - ARGV
 * @returns the script's answer
 * @example
 * await runScript(client, SINCE, [keys.record, keys.history], [])
 */
export async function runScript(
  client: Redis,
  lua: LuaScript,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  try {
    return await client.evalsha(lua.sha, keys.length, ...keys, ...args);
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
    return client.eval(lua.text, keys.length, ...keys, ...args);
  }
}

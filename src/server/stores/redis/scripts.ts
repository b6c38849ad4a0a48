/**
 * The Lua scripts of `RedisStore`. None of them decodes or encodes a session value: Redis'
 * Lua cjson turns `[]` into `{}` and cuts numbers to 14 digits, so data, patches and events
 * arrive as JSON text encoded by Node and are stored or published as opaque strings. Lua
 * only compares versions, moves counters and sets lifetimes. Every key a script touches is in
 * its KEYS (Redis Cluster refuses others), and all of them share one hash slot.
 */
import { createHash } from 'node:crypto';
import type { RedisClient } from './client.js';

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
-- Gives KEYS[1..4] (every key of the session that lives with the record) one lifetime.
local function refresh(ttl, deadline)
  local pexp = math.max(1, math.min(ttl, deadline - now))
  for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], int(pexp)) end
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
 * Compare-and-set of one change. KEYS (one slot: the session's): record, history, mutations,
 * order, born.
 * ARGV: 1 expected version (0 = no record), 2 changed '1'|'0', 3 data text, 4 patch text,
 * 5 event text, 6 channel, 7 mutation id or '', 8 ttl ms, 9 absolute ms, 10 history length,
 * 11 mutation memory, 12 user mode 'keep'|'set', 13 user or '', 14 condition
 * ''|'exists'|'adopt', 15 end of the adoption window (epoch ms, for 'adopt'), 16 the creation
 * time to record when this apply creates the record (epoch ms), 17 'note' to replace the
 * device note with 18 (User-Agent or '') and 19 (IP or ''), else '', 20 the time (epoch ms)
 * by which this apply must land because Node added the session to its new user's index
 * for it, or '', 21 the write mark the record is expected to hold ('' for none), 22 the mark
 * of this write.
 * The compare is on the version AND the write mark (a token unique to each write), so a node
 * that built on what it expects an earlier write of its own to leave, or on a record of an
 * id's earlier life, is told `conflict` however the versions happen to line up.
 * Answers `{'dup', '<version>'}` (the version the id was first applied at),
 * `{'conflict', '<version>'}`, `{'ended'}` (the condition refused: no record may be created),
 * `{'reindex'}` (too late after the index add: Node adds again and retries; see
 * user-index.ts) or `{'ok', '<version>', '<changed>', '<epoch>', '<idle deadline>', '<user
 * before or empty>', '<now>'}`. The mutation check comes first and in the same script as the CAS, so
 * a replay through another node is applied once; the condition is decided here too, so no
 * race can revive an ended id: a record is created by adoption at most once per id (the born
 * key, kept until the window closes) and only before the window closes.
 */
export const APPLY = script(
  'apply',
  `${PRELUDE}
local mutation = ARGV[7]
if mutation ~= '' then
  local seen = redis.call('HGET', KEYS[3], mutation)
  if seen then return {'dup', seen} end
end
-- One read of the record's fields: each redis.call costs Redis CPU on every write.
local record = redis.call('HMGET', KEYS[1], 'v', 'w', 'c', 'a', 'u')
local current = tonumber(record[1] or '0')
if current ~= tonumber(ARGV[1]) or (record[2] or '') ~= ARGV[21] then
  return {'conflict', int(current)}
end
local changed = ARGV[2] == '1'
if current == 0 and not changed then return {'ok', '0', '0', '', '', '', ''} end
if ARGV[20] ~= '' and now > tonumber(ARGV[20]) then return {'reindex'} end
local absolute = tonumber(ARGV[9])
local created, deadline
local fields = {}
if current == 0 then
  if ARGV[14] == 'exists' then return {'ended'} end
  if ARGV[14] == 'adopt' then
    local closes = tonumber(ARGV[15])
    if now >= closes or redis.call('EXISTS', KEYS[5]) == 1 then return {'ended'} end
    redis.call('SET', KEYS[5], 'live', 'PX', int(closes - now))
  end
  -- The creation time comes from the node (it is in the event published below already).
  created = ARGV[16]
  deadline = tonumber(created) + absolute
  fields = {'c', created}
else
  created = record[3] or ''
  local from = tonumber(created) or now
  deadline = math.min(tonumber(record[4]) or (from + absolute), from + absolute)
end
local version = current
table.insert(fields, 'a')
table.insert(fields, int(deadline))
table.insert(fields, 't')
table.insert(fields, int(now))
if changed then
  version = current + 1
  for _, v in ipairs({'d', ARGV[3], 'v', int(version), 'w', ARGV[22]}) do table.insert(fields, v) end
end
redis.call('HSET', KEYS[1], unpack(fields))
note(KEYS[1], ARGV[17], ARGV[18], ARGV[19])
if changed then
  redis.call('RPUSH', KEYS[2], ARGV[4])
  redis.call('LTRIM', KEYS[2], int(-tonumber(ARGV[10])), -1)
end
if mutation ~= '' then
  redis.call('HSET', KEYS[3], mutation, int(version))
  redis.call('RPUSH', KEYS[4], mutation)
  for _ = 1, redis.call('LLEN', KEYS[4]) - tonumber(ARGV[11]) do
    redis.call('HDEL', KEYS[3], redis.call('LPOP', KEYS[4]))
  end
end
local olduser = record[5] or ''
if ARGV[12] == 'set' then
  if ARGV[13] == '' then redis.call('HDEL', KEYS[1], 'u') else redis.call('HSET', KEYS[1], 'u', ARGV[13]) end
end
local pexp = refresh(tonumber(ARGV[8]), deadline)
if changed then redis.call('PUBLISH', ARGV[6], ARGV[5]) end
return {'ok', int(version), changed and '1' or '0', created, int(now + pexp), olduser, int(now)}
`,
);

/**
 * Refreshes the idle lifetime (bounded by the absolute deadline) and replaces the device
 * note when asked. KEYS: record, history, mutations, order.
 * ARGV: 1 ttl ms, 2 'note' or '', 3 User-Agent or '', 4 IP or ''. Answers 1 or 0.
 */
export const TOUCH = script(
  'touch',
  `${PRELUDE}
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local deadline = tonumber(redis.call('HGET', KEYS[1], 'a')) or (now + tonumber(ARGV[1]))
redis.call('HSET', KEYS[1], 't', int(now))
note(KEYS[1], ARGV[2], ARGV[3], ARGV[4])
refresh(tonumber(ARGV[1]), deadline)
return 1
`,
);

/**
 * Deletes every key of a session, leaves a tombstone, records the reason in the born key
 * (when the id has one, or for ARGV[5] ms when that is longer: an id ended while its
 * adoption window is open, record or not, can never be adopted), and publishes the end event
 * now unless it is deferred ('' = deferred). The tombstone holds the reason once the end is
 * announced ('pending' until then), so an expiry watcher whose feed missed the announcement
 * can still end its sockets with the right reason. The user index is Node's to tidy (another
 * slot).
 * KEYS: record, history, mutations, order, tombstone, born.
 * ARGV: 1 tombstone ms, 2 channel, 3 event text or '', 4 reason, 5 ms left of the id's
 * adoption window ('0' when unknown or closed).
 * Answers `{ existed 1|0, data text, version, user, epoch, now }` of the record as it was.
 */
export const DESTROY = script(
  'destroy',
  `${PRELUDE}
local existed = redis.call('EXISTS', KEYS[1])
local was = redis.call('HMGET', KEYS[1], 'd', 'v', 'u', 'c')
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
redis.call('SET', KEYS[5], ARGV[3] ~= '' and ARGV[4] or 'pending', 'PX', ARGV[1])
local left = math.max(redis.call('PTTL', KEYS[6]), tonumber(ARGV[5]))
if left > 0 then redis.call('SET', KEYS[6], ARGV[4], 'PX', int(left)) end
if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return {existed, was[1] or '', was[2] or '', was[3] or '', was[4] or '', int(now)}
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
 * Adds a session to a user's index, scored by now (this Redis' clock), and makes the index
 * key live at least `keep` ms more, so it outlives every member. KEYS: the user's zset.
 * ARGV: 1 session id, 2 keep ms. Answers the score (epoch ms).
 */
export const INDEX_ADD = script(
  'indexAdd',
  `${PRELUDE}
redis.call('ZADD', KEYS[1], int(now), ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return int(now)
`,
);

/**
 * Removes the listed sessions from a user's index, but only those added more than `grace`
 * ms ago (a younger member may belong to an apply still on its way), and only while the
 * reading that found them stale is recent (see user-index.ts).
 * KEYS: the user's zset. ARGV: 1 grace ms, 2 not after (epoch ms), 3… session ids.
 * Answers how many left.
 */
export const INDEX_PRUNE = script(
  'indexPrune',
  `${PRELUDE}
if now > tonumber(ARGV[2]) then return 0 end
local removed = 0
for i = 3, #ARGV do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) <= now - tonumber(ARGV[1]) then
    removed = removed + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return removed
`,
);

/**
 * The members of a user's index and the time of the reading (that Redis' clock, which the
 * prune that may follow is judged by). KEYS: the user's zset. Answers `{ now, id, … }`.
 */
export const INDEX_READ = script(
  'indexRead',
  `${PRELUDE}
local out = redis.call('ZRANGE', KEYS[1], 0, -1)
table.insert(out, 1, int(now))
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
  client: RedisClient,
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

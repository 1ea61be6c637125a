/**
 * The Lua scripts of the Redis store. Each runs atomically in Redis, and each touches the keys of one
 * hash slot only: either one device bucket (`<prefix>:{b<n>}:…`, see redis-keys.ts) or one message-id
 * claim (`<prefix>:{m:<id>}`). The first key a script is given names its slot; keys of the same bucket
 * that depend on what the script reads (a message's hash by seq) are derived from a prefix passed in
 * ARGV, which keeps them in that slot, so the same scripts run on Redis Cluster.
 *
 * Every value a script writes that came from JavaScript (times, seqs, the due time) is passed as a
 * string and stored as given: Lua's numbers are only used to compare, never formatted back, so nothing
 * is rounded by Lua's "%.14g".
 *
 * A message is a hash: id, q (seq), k (kind), pl (payload JSON), pr (priority), e (expiration, UNIX s),
 * a (acceptedAt), du (the time it counts as expired at, ms), c (collapse id, absent for none), g (the
 * generation of its id claim), s (state), st (first sentAt), sa (settledAt), dt (terminal detail),
 * r (times of redeliveries, comma-separated).
 */

/**
 * Shared Lua: the bucket's retention index, `<bucket>:done` (zset "<seq>:<device>" → settledAt). Every
 * settled message is added to it, so that PRUNE_BUCKET finds the oldest ones without scanning devices.
 * Both the bucket and the device are cut from the device's pending key `<prefix>:{b<n>}:p:<device>`: the
 * prefix holds no braces, so the first "}:p:" ends the bucket's hash tag — and the key stays in its slot.
 */
const DONE = `
local function markDone(pend, seq, at)
  local i = string.find(pend, '}:p:', 1, true)
  redis.call('ZADD', string.sub(pend, 1, i) .. ':done', at, seq .. ':' .. string.sub(pend, i + 4))
end
`;

/** Shared Lua: settle one pending message (state, time, detail; out of the pending set and collapse map). */
const SETTLE = `${DONE}
local function settle(pend, cmap, mk, seq, state, at, detail)
  redis.call('HSET', mk, 's', state, 'sa', at)
  if detail then redis.call('HSET', mk, 'dt', detail) end
  redis.call('ZREM', pend, seq)
  markDone(pend, seq, at)
  local c = redis.call('HGET', mk, 'c')
  if c and redis.call('HGET', cmap, c) == seq then redis.call('HDEL', cmap, c) end
end
`;

/**
 * Inserts a message into its device, applying idempotency, collapse, the queue bound and the expiry
 * schedule in one step.
 * KEYS: devs seqs sched pend all ids cmap. ARGV: deviceId id generation mode(q|x) kind payload priority
 * expiration acceptedAt collapseId|'' hasCollapse settledAt bound due msgPrefix.
 * Returns {'unknown'} | {'fenced'} | {'dup', msg} | {'ok', msg, collapsed[], overflowed[]}.
 */
export const ENQUEUE = `${SETTLE}
local devs, seqs, sched, pend, all, ids, cmap = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local D, X, g, mode = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local mp = ARGV[15]
if redis.call('HEXISTS', devs, D) == 0 then return {'unknown'} end
local cur = redis.call('HGET', ids, X)
if cur then
  if string.sub(cur, 1, 1) ~= '-' then return {'dup', redis.call('HGETALL', mp .. cur)} end
  if cur == '-' .. g then return {'fenced'} end
end
local seq = tostring(redis.call('HINCRBY', seqs, D, 1))
local mk = mp .. seq
local fields = {'id', X, 'q', seq, 'k', ARGV[5], 'pl', ARGV[6], 'pr', ARGV[7], 'e', ARGV[8], 'a', ARGV[9],
  'du', ARGV[14], 'g', g}
if ARGV[11] == '1' then table.insert(fields, 'c'); table.insert(fields, ARGV[10]) end
if mode == 'x' then
  table.insert(fields, 's'); table.insert(fields, 'expired')
  table.insert(fields, 'sa'); table.insert(fields, ARGV[12])
else
  table.insert(fields, 's'); table.insert(fields, 'queued')
end
redis.call('HSET', mk, unpack(fields))
redis.call('ZADD', all, seq, seq)
redis.call('HSET', ids, X, seq)
if mode == 'x' then
  markDone(pend, seq, ARGV[12])
  return {'ok', redis.call('HGETALL', mk), {}, {}}
end
redis.call('ZADD', pend, seq, seq)
local collapsed, overflowed = {}, {}
if ARGV[11] == '1' then
  local older = redis.call('HGET', cmap, ARGV[10])
  if older and redis.call('ZSCORE', pend, older) then
    settle(pend, cmap, mp .. older, older, 'collapsed', ARGV[9], X)
    table.insert(collapsed, redis.call('HGETALL', mp .. older))
  end
  redis.call('HSET', cmap, ARGV[10], seq)
end
local excess = redis.call('ZCARD', pend) - tonumber(ARGV[13])
if excess > 0 then
  for _, older in ipairs(redis.call('ZRANGE', pend, 0, excess - 1)) do
    settle(pend, cmap, mp .. older, older, 'overflowed', ARGV[9], X)
    table.insert(overflowed, redis.call('HGETALL', mp .. older))
  end
end
redis.call('ZADD', sched, 'LT', ARGV[14], D)
return {'ok', redis.call('HGETALL', mk), collapsed, overflowed}
`;

/** KEYS: pend. ARGV: msgPrefix at seq… — queued → sent (first send time), sent → one more redelivery. */
export const MARK_SENT = `
local mp, at = ARGV[1], ARGV[2]
for i = 3, #ARGV do
  local seq = ARGV[i]
  if redis.call('ZSCORE', KEYS[1], seq) then
    local mk = mp .. seq
    local s = redis.call('HGET', mk, 's')
    if s == 'queued' then
      redis.call('HSET', mk, 's', 'sent', 'st', at)
    elseif s == 'sent' then
      local r = redis.call('HGET', mk, 'r')
      redis.call('HSET', mk, 'r', r and (r .. ',' .. at) or at)
    end
  end
end
return 1
`;

/** KEYS: pend ids cmap. ARGV: msgPrefix at through|'' id… — the newly acked messages, in seq order. */
export const ACKNOWLEDGE = `${SETTLE}
local pend, ids, cmap = KEYS[1], KEYS[2], KEYS[3]
local mp, at, through = ARGV[1], ARGV[2], ARGV[3]
local picked, list = {}, {}
local function pick(seq)
  if not picked[seq] and redis.call('ZSCORE', pend, seq) then picked[seq] = true; table.insert(list, seq) end
end
for i = 4, #ARGV do
  local seq = redis.call('HGET', ids, ARGV[i])
  if seq and string.sub(seq, 1, 1) ~= '-' then pick(seq) end
end
if through ~= '' then
  for _, seq in ipairs(redis.call('ZRANGEBYSCORE', pend, '-inf', through)) do pick(seq) end
end
table.sort(list, function(x, y) return tonumber(x) < tonumber(y) end)
local out = {}
for _, seq in ipairs(list) do
  settle(pend, cmap, mp .. seq, seq, 'acked', at, false)
  table.insert(out, redis.call('HGETALL', mp .. seq))
end
return out
`;

/** KEYS: pend. ARGV: msgPrefix afterSeq now limit — deliverable messages in seq order (read only). */
export const DELIVERABLE = `
local mp, now, limit = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {}
for _, seq in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[2], '+inf')) do
  if #out >= limit then break end
  local f = redis.call('HMGET', mp .. seq, 's', 'e', 'du')
  if not (f[2] == '0' and f[1] == 'sent') and tonumber(f[3]) > now then
    table.insert(out, redis.call('HGETALL', mp .. seq))
  end
end
return out
`;

/**
 * One bucket's expiry sweep: every device whose scheduled time passed has its due messages expired and
 * its schedule entry moved to its next due message (or removed). Bounded per call.
 * KEYS: sched. ARGV: bucketBase now maxDevices maxMessages — {more (0|1), expired[]}.
 */
export const EXPIRE_BUCKET = `${SETTLE}
local sched, base, now = KEYS[1], ARGV[1], ARGV[2]
local nowN = tonumber(now)
local due = redis.call('ZRANGEBYSCORE', sched, '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
local more = 0
if #due >= tonumber(ARGV[3]) then more = 1 end
for _, D in ipairs(due) do
  local pend, cmap, mp = base .. ':p:' .. D, base .. ':c:' .. D, base .. ':m:' .. D .. ':'
  local nextDue, nextN = nil, nil
  for _, seq in ipairs(redis.call('ZRANGE', pend, 0, -1)) do
    local du = redis.call('HGET', mp .. seq, 'du')
    if tonumber(du) <= nowN then
      settle(pend, cmap, mp .. seq, seq, 'expired', now, false)
      local h = redis.call('HGETALL', mp .. seq)
      table.insert(h, 'dv'); table.insert(h, D)
      table.insert(out, h)
    elseif nextN == nil or tonumber(du) < nextN then
      nextDue, nextN = du, tonumber(du)
    end
  end
  if nextDue then redis.call('ZADD', sched, nextDue, D) else redis.call('ZREM', sched, D) end
  if #out >= tonumber(ARGV[4]) then more = 1; break end
end
return {more, out}
`;

/** KEYS: pend ids cmap. ARGV: msgPrefix id at detail — the message now fallen back, or nil. */
export const FALL_BACK = `${SETTLE}
local seq = redis.call('HGET', KEYS[2], ARGV[2])
if not seq or string.sub(seq, 1, 1) == '-' or not redis.call('ZSCORE', KEYS[1], seq) then return nil end
settle(KEYS[1], KEYS[3], ARGV[1] .. seq, seq, 'fallen_back', ARGV[3], ARGV[4])
return redis.call('HGETALL', ARGV[1] .. seq)
`;

/** KEYS: ids. ARGV: msgPrefix id — the message's hash, or nil. */
export const GET_MESSAGE = `
local seq = redis.call('HGET', KEYS[1], ARGV[2])
if not seq or string.sub(seq, 1, 1) == '-' then return nil end
return redis.call('HGETALL', ARGV[1] .. seq)
`;

/** KEYS: all. ARGV: msgPrefix maxScore limit — a device's messages newest first. */
export const LIST_MESSAGES = `
local out = {}
for _, seq in ipairs(redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[2], '-inf', 'LIMIT', 0, tonumber(ARGV[3]))) do
  table.insert(out, redis.call('HGETALL', ARGV[1] .. seq))
end
return out
`;

/**
 * Removes a device, its messages and its APNs tokens. Each message's id is left as a tombstone of its
 * claim generation in the id hash, so that the claims can be released afterwards without racing a
 * re-added device's reuse of the id (see redis.ts). The last seq stays. The tokens' owner keys (another
 * slot) are released afterwards too; until then they name a registration that is gone, which readers
 * treat as none (redis-tokens.ts). KEYS: devs sched pend all ids cmap toks. ARGV: deviceId msgPrefix.
 * Returns {0} when there was no such device, else {1, {id, generation, …}, {token, generation, …}}.
 */
export const REMOVE_DEVICE = `
local devs, sched, pend, all, ids, cmap, toks = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
if redis.call('HDEL', devs, ARGV[1]) == 0 then return {0} end
local claims, tokens = {}, {}
for _, seq in ipairs(redis.call('ZRANGE', all, 0, -1)) do
  local mk = ARGV[2] .. seq
  local f = redis.call('HMGET', mk, 'id', 'g')
  if f[1] then
    redis.call('HSET', ids, f[1], '-' .. (f[2] or ''))
    table.insert(claims, f[1]); table.insert(claims, f[2] or '')
  end
  redis.call('DEL', mk)
end
local t = redis.call('HGETALL', toks)
for i = 1, #t, 2 do
  table.insert(tokens, t[i]); table.insert(tokens, string.match(t[i + 1], '^(%S*)') or '')
end
redis.call('DEL', pend, all, cmap, toks)
redis.call('ZREM', sched, ARGV[1])
return {1, claims, tokens}
`;

/**
 * Retention in one bucket: deletes up to `limit` messages settled at or before `before`, oldest first,
 * from the bucket's done index. Each id is left as a tombstone of its claim generation, released
 * afterwards exactly as after REMOVE_DEVICE. A message already gone (its device removed) just leaves the
 * index. KEYS: done. ARGV: bucketBase before limit — {deleted, {id, generation, device, …}}.
 */
export const PRUNE_BUCKET = `
local done, base = KEYS[1], ARGV[1]
local claims, deleted = {}, 0
for _, member in ipairs(redis.call('ZRANGEBYSCORE', done, '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))) do
  local i = string.find(member, ':', 1, true)
  local seq, D = string.sub(member, 1, i - 1), string.sub(member, i + 1)
  local mk = base .. ':m:' .. D .. ':' .. seq
  local f = redis.call('HMGET', mk, 'id', 'g', 's')
  if f[1] and f[3] ~= 'queued' and f[3] ~= 'sent' then
    local ids = base .. ':i:' .. D
    if redis.call('HGET', ids, f[1]) == seq then redis.call('HSET', ids, f[1], '-' .. (f[2] or '')) end
    redis.call('ZREM', base .. ':a:' .. D, seq)
    redis.call('DEL', mk)
    deleted = deleted + 1
    table.insert(claims, f[1]); table.insert(claims, f[2] or ''); table.insert(claims, D)
  end
  redis.call('ZREM', done, member)
end
return {deleted, claims}
`;

/**
 * Records an APNs token in its device, if the device exists. KEYS: devs toks. ARGV: deviceId token value
 * ("<generation> <JSON>"). Returns 1, or 0 for an unknown device (nothing written).
 */
export const TOKEN_PUT = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1
`;

/** KEYS: toks. ARGV: token generation — drops the registration if it is of that generation; 1 if it was. */
export const TOKEN_DROP = `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v or string.sub(v, 1, #ARGV[2] + 1) ~= ARGV[2] .. ' ' then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
`;

/** KEYS: key. ARGV: value — sets the key, returning what it held before (nil when nothing). */
export const SWAP = `
local v = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1])
return v
`;

/**
 * Fences an id in its claimed device: when the device holds no message with that id, a tombstone of the
 * claim's generation is written, so that an insert still in flight under that claim fails ('fenced') and
 * the claim can be moved. KEYS: ids. ARGV: msgPrefix id generation — {1, msg} when present, else {0}.
 */
export const FENCE = `
local seq = redis.call('HGET', KEYS[1], ARGV[2])
if seq and string.sub(seq, 1, 1) ~= '-' then return {1, redis.call('HGETALL', ARGV[1] .. seq)} end
redis.call('HSET', KEYS[1], ARGV[2], '-' .. ARGV[3])
return {0}
`;

/** KEYS: ids. ARGV: id generation — drops the tombstone of that generation (claim released). */
export const DROP_TOMBSTONE = `
if redis.call('HGET', KEYS[1], ARGV[1]) == '-' .. ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 1
`;

/** KEYS: claim. ARGV: value — sets the claim when there is none; returns {created (0|1), value}. */
export const CLAIM = `
local v = redis.call('GET', KEYS[1])
if v then return {0, v} end
redis.call('SET', KEYS[1], ARGV[1])
return {1, ARGV[1]}
`;

/** KEYS: claim. ARGV: expected new|'' — compare and set (or delete when new is ''); 1 when it matched. */
export const COMPARE_AND_SET = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2]) end
return 1
`;

export const SCRIPTS = {
  lpEnqueue: ENQUEUE,
  lpMarkSent: MARK_SENT,
  lpAcknowledge: ACKNOWLEDGE,
  lpDeliverable: DELIVERABLE,
  lpExpireBucket: EXPIRE_BUCKET,
  lpFallBack: FALL_BACK,
  lpGetMessage: GET_MESSAGE,
  lpListMessages: LIST_MESSAGES,
  lpRemoveDevice: REMOVE_DEVICE,
  lpPruneBucket: PRUNE_BUCKET,
  lpFence: FENCE,
  lpDropTombstone: DROP_TOMBSTONE,
  lpClaim: CLAIM,
  lpCompareAndSet: COMPARE_AND_SET,
  lpTokenPut: TOKEN_PUT,
  lpTokenDrop: TOKEN_DROP,
  lpSwap: SWAP,
} as const;

export type ScriptName = keyof typeof SCRIPTS;

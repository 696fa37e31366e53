-- record.lua - one authentication event (see redis_store.cpp). The client
-- sends it in one round trip as MULTI, EVALSHA, HGETALL KEYS[1], HGETALL
-- KEYS[2], EXEC: Redis hands the history over far faster itself than
-- through Lua tables (a full history: about 35 of 55 us per event).
-- KEYS[1] observations hash, KEYS[2] lock hash, KEYS[3] the observations'
-- index (below); all carry the user's hash tag.
-- ARGV: now ('' = server TIME), mode ('s' success, 'f' failure, '-' read only),
--       address, fingerprint ('' = none), success retention, failure retention,
--       max entries, lock retention (seconds); only from a log follower
--       (authguardctl follow): its mark's field ('q|<follower>') and token,
--       set with a counted event. Marks are not entries: never counted
--       against max entries, never evicted.
-- Returns now.
--
-- The index is a sorted set with a member per field of the hash but
-- 'x|dropped', so that an event for a full hash costs O(log n), not a scan
-- of every entry. It exists once the hash has been full: built then from
-- the hash (data written without it keeps working), and kept in step from
-- then on by every script that writes or deletes observations. Scores:
--   entry    (last + 2^32 unless a failure) * 2^20 + seq: a failure ranks
--            below a success, then the least recently seen first; seq, the
--            order of insertion, breaks ties in the hash's own order, as
--            the scan of the whole hash did
--   2^62     fields counted as entries but never evicted ('x|...', unreadable)
--   +inf     marks ('q|...')
--   -1-next  the member '#': the seq the next new entry gets
-- An index that does not match the hash (left by an older version, or by
-- hand) is built again from the hash when met.
local now = tonumber(ARGV[1])
if not now then now = tonumber(redis.call('TIME')[1]) end
local obs, lock, seen = KEYS[1], KEYS[2], KEYS[3]
local mode = ARGV[2]
local SEQ, SUCCESS, FIXED = 1048576, 4294967296, 2 ^ 62

-- A score as Redis must read it: Lua's own conversion keeps 14 digits.
local function num(x) return string.format('%.0f', x) end

local function score(kind, last, seq)
  if kind ~= 'f' then last = last + SUCCESS end
  return num(last * SEQ + seq)
end

-- The index from the hash, in the hash's order.
local function build()
  local all = redis.call('HGETALL', obs)
  redis.call('DEL', seen)
  local n = 0
  for i = 1, #all, 2 do
    local f = all[i]
    if f ~= 'x|dropped' then
      local kind, s = string.sub(f, 1, 1), num(FIXED)
      if string.sub(f, 1, 2) == 'q|' then
        s = 'inf'
      elseif kind ~= 'x' and kind ~= 'q' then
        local last = tonumber(string.match(all[i + 1], '^%d+ (%d+)'))
        if last then s, n = score(kind, last, n), n + 1 end
      end
      redis.call('ZADD', seen, s, f)
    end
  end
  redis.call('ZADD', seen, -1 - n, '#')
end

-- The next seq. Once they run out, the entries are numbered again from 0
-- in their order (once per 2^20 new entries).
local function take_seq()
  local n = -2 - tonumber(redis.call('ZINCRBY', seen, -1, '#'))
  if n >= 0 and n < SEQ then return n end
  local all, list = redis.call('ZRANGEBYSCORE', seen, 0, '(' .. num(FIXED), 'WITHSCORES'), {}
  for i = 1, #all, 2 do list[#list + 1] = {all[i], tonumber(all[i + 1])} end
  table.sort(list, function(a, b) return a[2] % SEQ < b[2] % SEQ end)
  for i, e in ipairs(list) do
    redis.call('ZADD', seen, num(e[2] - e[2] % SEQ + i - 1), e[1])
  end
  redis.call('ZADD', seen, -2 - #list, '#')
  return #list
end

if mode == 's' or mode == 'f' then
  local field = mode .. '|' .. ARGV[3]
  local suffix = ''
  if ARGV[4] ~= '' then suffix = ' ' .. ARGV[4] end
  local old = redis.call('HGET', obs, field)
  local max = tonumber(ARGV[7])
  local indexed = false
  if old then
    local first, last, count = string.match(old, '^(%d+) (%d+) (%d+)')
    first, last = math.min(tonumber(first), now), math.max(tonumber(last), now)
    redis.call('HSET', obs, field, first .. ' ' .. last .. ' ' .. (tonumber(count) + 1) .. suffix)
    local s = tonumber(redis.call('ZSCORE', seen, field))
    if s then -- (a field missing from an index makes it rebuilt when full)
      indexed = true
      if s < 0 or s >= FIXED then s = take_seq() end
      redis.call('ZADD', seen, score(mode, last, s % SEQ), field)
    end
  else
    -- Full: forget what has expired; if still full, forget the entry seen
    -- least recently (a failure before a success), so the newest event --
    -- perhaps a botnet's first login -- is always seen.
    local len = redis.call('HLEN', obs)
    if len >= max then
      local stale = false
      for _ = 1, 2 do -- a second time only when the index proved stale
        local card = redis.call('ZCARD', seen)
        if stale or card == 0 or card - 1 + redis.call('HEXISTS', obs, 'x|dropped') ~= len then
          build()
        end
        indexed = true
        local marks = redis.call('ZCOUNT', seen, 'inf', 'inf')
        if len - marks < max then break end
        local f_until = math.min((now - tonumber(ARGV[6])) * SEQ, SUCCESS * SEQ)
        local s_until = math.min((now - tonumber(ARGV[5]) + SUCCESS) * SEQ, FIXED)
        for _, range in ipairs({{0, f_until}, {SUCCESS * SEQ, s_until}}) do
          if range[2] > range[1] then
            local from, to = num(range[1]), '(' .. num(range[2])
            local gone = redis.call('ZRANGEBYSCORE', seen, from, to)
            for _, f in ipairs(gone) do len = len - redis.call('HDEL', obs, f) end
            if #gone > 0 then redis.call('ZREMRANGEBYSCORE', seen, from, to) end
          end
        end
        if len - marks < max then break end
        local oldest = redis.call('ZRANGE', seen, 1, 1, 'WITHSCORES')
        if not oldest[1] or tonumber(oldest[2]) >= FIXED then break end
        redis.call('ZREM', seen, oldest[1])
        if redis.call('HDEL', obs, oldest[1]) == 1 then
          redis.call('HINCRBY', obs, 'x|dropped', 1)
          break
        end
        stale, len = true, redis.call('HLEN', obs)
      end
    else
      indexed = redis.call('EXISTS', seen) == 1
    end
    redis.call('HSET', obs, field, now .. ' ' .. now .. ' 1' .. suffix)
    if indexed then redis.call('ZADD', seen, score(mode, now, take_seq()), field) end
  end
  if ARGV[9] then
    redis.call('HSET', obs, ARGV[9], ARGV[10])
    if indexed then redis.call('ZADD', seen, 'inf', ARGV[9]) end
  end
  redis.call('EXPIRE', obs, ARGV[5])
  if indexed then redis.call('EXPIRE', seen, ARGV[5]) end
  local lock_until = tonumber(redis.call('HGET', lock, 'until'))
  if lock_until and (lock_until == 0 or lock_until > now) then
    redis.call('HINCRBY', lock, 'attempts_after', 1)
    redis.call('HSET', lock, 'last_attempt', now)
    redis.call('EXPIRE', lock, ARGV[8])
  end
end
return now

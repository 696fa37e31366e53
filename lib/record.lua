-- record.lua - one authentication event, one round trip (see redis_store.cpp).
-- KEYS[1] observations hash, KEYS[2] lock hash; both carry the user's hash tag.
-- ARGV: now ('' = server TIME), mode ('s' success, 'f' failure, '-' read only),
--       address, fingerprint ('' = none), success retention, failure retention,
--       max entries, lock retention (seconds); only from a log follower
--       (authguardctl follow): its mark's field ('q|<follower>') and token,
--       set with a counted event. Marks are not entries: never counted
--       against max entries, never evicted.
local now = tonumber(ARGV[1])
if not now then now = tonumber(redis.call('TIME')[1]) end
local obs, lock = KEYS[1], KEYS[2]
local mode = ARGV[2]

if mode == 's' or mode == 'f' then
  local field = mode .. '|' .. ARGV[3]
  local suffix = ''
  if ARGV[4] ~= '' then suffix = ' ' .. ARGV[4] end
  local old = redis.call('HGET', obs, field)
  local max = tonumber(ARGV[7])
  if old then
    local first, last, count = string.match(old, '^(%d+) (%d+) (%d+)')
    first, last = math.min(tonumber(first), now), math.max(tonumber(last), now)
    redis.call('HSET', obs, field, first .. ' ' .. last .. ' ' .. (tonumber(count) + 1) .. suffix)
  else
    -- Full: forget what has expired; if still full, forget the entry seen
    -- least recently (a failure before a success), so the newest event --
    -- perhaps a botnet's first login -- is always seen.
    local marks, all = 0, nil
    if redis.call('HLEN', obs) >= max then
      all = redis.call('HGETALL', obs)
      for i = 1, #all, 2 do
        if string.sub(all[i], 1, 2) == 'q|' then marks = marks + 1 end
      end
      if #all / 2 - marks < max then all = nil end
    end
    if all then
      local oldest, oldest_rank
      for i = 1, #all, 2 do
        local kind = string.sub(all[i], 1, 1)
        local last = tonumber(string.match(all[i + 1], '^%d+ (%d+)'))
        local keep = tonumber(ARGV[5])
        if kind == 'f' then keep = tonumber(ARGV[6]) end
        if kind ~= 'x' and kind ~= 'q' and last then
          if last < now - keep then
            redis.call('HDEL', obs, all[i])
          else
            local rank = last
            if kind == 'f' then rank = last - 1e12 end
            if not oldest_rank or rank < oldest_rank then oldest, oldest_rank = all[i], rank end
          end
        end
      end
      if redis.call('HLEN', obs) - marks >= max and oldest then
        redis.call('HDEL', obs, oldest)
        redis.call('HINCRBY', obs, 'x|dropped', 1)
      end
    end
    redis.call('HSET', obs, field, now .. ' ' .. now .. ' 1' .. suffix)
  end
  if ARGV[9] then redis.call('HSET', obs, ARGV[9], ARGV[10]) end
  redis.call('EXPIRE', obs, ARGV[5])
  local lock_until = tonumber(redis.call('HGET', lock, 'until'))
  if lock_until and (lock_until == 0 or lock_until > now) then
    redis.call('HINCRBY', lock, 'attempts_after', 1)
    redis.call('HSET', lock, 'last_attempt', now)
    redis.call('EXPIRE', lock, ARGV[8])
  end
end
return {now, redis.call('HGETALL', obs), redis.call('HGETALL', lock)}

-- message.lua - one submitted message (or only a look), one round trip (see redis_store.cpp).
-- KEYS[1] rate hash, KEYS[2] lock hash; both carry the sender's hash tag.
-- ARGV: now ('' = server TIME), messages to add (0 = only look; below 0: take
--       back, see below), recipients to add,
--       short window, long window (seconds); only from a log follower
--       (authguardctl follow): its mark's field ('q|<follower>') and token, set
--       with counts that are added (the bucket pattern below skips the field).
-- Counts live in buckets: a twelfth of the short window ('s<n>m', 's<n>r')
-- and a twenty-fourth of the long one ('l<n>r'), so the windows slide in
-- steps of 5 minutes and 1 hour by default and the hash stays under 40 fields.
local now = tonumber(ARGV[1])
if not now then now = tonumber(redis.call('TIME')[1]) end
local rate, lock = KEYS[1], KEYS[2]
local messages, recipients = tonumber(ARGV[2]), tonumber(ARGV[3])
local short, long = tonumber(ARGV[4]), tonumber(ARGV[5])
local short_step, long_step = math.max(1, math.floor(short / 12)), math.max(1, math.floor(long / 24))

if messages > 0 or recipients > 0 then
  local s, l = math.floor(now / short_step), math.floor(now / long_step)
  redis.call('HINCRBY', rate, 's' .. s .. 'm', messages)
  redis.call('HINCRBY', rate, 's' .. s .. 'r', recipients)
  redis.call('HINCRBY', rate, 'l' .. l .. 'r', recipients)
  if ARGV[6] then redis.call('HSET', rate, ARGV[6], ARGV[7]) end
  redis.call('EXPIRE', rate, long + long_step)
elseif messages < 0 or recipients < 0 then
  -- Takes back a message counted at this time (ARGV[1]) that was then not
  -- queued: the same buckets, never below 0; a bucket that reaches 0 goes.
  local s, l = math.floor(now / short_step), math.floor(now / long_step)
  for _, change in ipairs({{'s' .. s .. 'm', messages}, {'s' .. s .. 'r', recipients},
                           {'l' .. l .. 'r', recipients}}) do
    local old = tonumber(redis.call('HGET', rate, change[1]))
    if old then
      local left = old + change[2]
      if left > 0 then redis.call('HSET', rate, change[1], left)
      else redis.call('HDEL', rate, change[1]) end
    end
  end
end

local short_messages, short_recipients, long_recipients = 0, 0, 0
local all = redis.call('HGETALL', rate)
for i = 1, #all, 2 do
  local kind, bucket, what = string.match(all[i], '^(%a)(%d+)(%a)$')
  bucket = tonumber(bucket)
  local value = tonumber(all[i + 1])
  if kind == 's' then
    if (bucket + 1) * short_step <= now - short then
      redis.call('HDEL', rate, all[i])
    elseif what == 'm' then
      short_messages = short_messages + value
    else
      short_recipients = short_recipients + value
    end
  elseif kind == 'l' then
    if (bucket + 1) * long_step <= now - long then
      redis.call('HDEL', rate, all[i])
    else
      long_recipients = long_recipients + value
    end
  end
end
return {now, short_messages, short_recipients, long_recipients, redis.call('HGETALL', lock)}

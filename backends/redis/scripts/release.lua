-- release.lua frees one concurrency lease (ARGV[4]) and moves the key's
-- expiry to its last remaining lease. ARGV[1..3] are the time and slack as
-- for every script. Expired leases are left to the next acquisition, which
-- drops them, or to the key's expiry.

local key = KEYS[1]
if redis.call('HDEL', key, ARGV[4]) == 0 then return 0 end
local last = 0
local fields = redis.call('HGETALL', key)
for j = 2, #fields, 2 do
  local eu, en = parse_entry(fields[j])
  last = math.max(last, since(eu, en, now_u, now_n))
end
if #fields > 0 then redis.call('PEXPIRE', key, ttl(last)) end
return 1

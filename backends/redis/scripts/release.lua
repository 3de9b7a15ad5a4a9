-- release.lua frees one concurrency lease (ARGV[4]) and moves the key's
-- expiry to its last remaining lease. ARGV[1..3] are the time and slack as
-- for every script. Expired leases are left to the next acquisition, which
-- drops them, or to the key's expiry.

local key = KEYS[1]
if redis.call('HDEL', key, ARGV[4]) == 0 then return 0 end
-- HGETALL rather than HVALS: the documented minimal ACL allows only it.
local fields = redis.call('HGETALL', key)
if #fields == 0 then return 1 end
-- The time only when a lease is left: a client's last lease is the
-- common case.
local tu, tn = read_now()
local last = 0
for j = 2, #fields, 2 do
  local eu, en = parse_entry(fields[j])
  local rel = (eu - tu) * 1000 + (en - tn)
  if rel > last then last = rel end
end
redis.call('PEXPIRE', key, ttl(last))
return 1

/// The rate-limit decisions as Lua, each one atomic script run on one key (so they also work
/// on Redis Cluster). Time comes from the server (`TIME`), never from the caller, so every
/// Ferry process sharing a key agrees on windows and refills. Scripts return integer arrays;
/// `RedisGovernance` reads them. Lua numbers are doubles: milliseconds (13 digits) survive
/// Redis's `%.14g` conversion of numbers to arguments; microseconds are formatted explicitly.
enum RedisRateLimitScripts {
    /// Lets Redis < 5 accept writes after `TIME` (effects replication; a no-op since Redis 7).
    static let prelude = """
        if redis.replicate_commands then redis.replicate_commands() end
        local function now_ms()
          local time = redis.call('TIME')
          return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
        end

        """

    /// KEYS[1] counter; ARGV limit, window_ms, cost → {allowed, remaining, reset_ms}.
    /// The window starts at its first hit (the counter's PEXPIRE). Rejected hits do not count.
    static let fixedWindow = RedisScript(
        """
        local limit, window, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
        local used = tonumber(redis.call('GET', KEYS[1]) or '0')
        local ttl = redis.call('PTTL', KEYS[1])
        if used + cost > limit then
          -- A counter without expiry (restored, PERSISTed) would reject forever: give it one.
          if ttl == -1 then redis.call('PEXPIRE', KEYS[1], window) end
          if ttl < 0 then ttl = window end
          return {0, math.max(limit - used, 0), ttl}
        end
        used = redis.call('INCRBY', KEYS[1], cost)
        if ttl < 0 then
          redis.call('PEXPIRE', KEYS[1], window)
          ttl = window
        end
        return {1, limit - used, ttl}
        """)

    /// KEYS[1] hash bucket → count; ARGV limit, window_ms, granularity_ms, cost →
    /// {allowed, remaining, retry_after_ms (-1: never; 0 when allowed)}.
    ///
    /// Conservative: it counts every bucket that overlaps the window (now - window, now], so no
    /// window of that length ever holds more than `limit` admitted hits; the price is admitting
    /// up to one bucket's worth later than an exact log would.
    static let slidingWindow = RedisScript(
        prelude + """
            local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])
            local granularity, cost = tonumber(ARGV[3]), tonumber(ARGV[4])
            local now = now_ms()
            local current = math.floor(now / granularity)
            local oldest = math.floor((now - window + 1) / granularity)
            local flat = redis.call('HGETALL', KEYS[1])
            local counts, stale, used, newest = {}, {}, 0, current
            for i = 1, #flat, 2 do
              local bucket, count = tonumber(flat[i]), tonumber(flat[i + 1])
              if bucket < oldest then
                stale[#stale + 1] = flat[i]
              else
                counts[bucket] = count
                used = used + count
                if bucket > newest then newest = bucket end
              end
            end
            if #stale > 0 then redis.call('HDEL', KEYS[1], unpack(stale)) end
            if used + cost <= limit then
              redis.call('HINCRBY', KEYS[1], current, cost)
              redis.call('PEXPIRE', KEYS[1], window + granularity)
              return {1, limit - used - cost, 0}
            end
            -- Bucket b stops overlapping the window once now >= (b + 1) * granularity + window - 1.
            local retry, need, freed = -1, used + cost - limit, 0
            if cost <= limit then
              for bucket = oldest, newest do
                freed = freed + (counts[bucket] or 0)
                if freed >= need then
                  retry = (bucket + 1) * granularity + window - 1 - now
                  break
                end
              end
            end
            return {0, math.max(limit - used, 0), retry}
            """)

    /// KEYS[1] hash {tokens, last}; ARGV max_tokens, tokens_per_fill, fill_interval_ms, cost →
    /// {allowed, remaining, next_token_ms (0 when full)}.
    ///
    /// Envoy's token bucket: starts full; every fill interval adds `tokens_per_fill`, up to the
    /// maximum. Time spent full banks nothing. An absent key is a full bucket, so the key expires
    /// when the bucket would be full again.
    static let tokenBucket = RedisScript(
        prelude + """
            local max, per_fill = tonumber(ARGV[1]), tonumber(ARGV[2])
            local interval, cost = tonumber(ARGV[3]), tonumber(ARGV[4])
            local now = now_ms()
            local state = redis.call('HMGET', KEYS[1], 'tokens', 'last')
            local tokens, last = tonumber(state[1]), tonumber(state[2])
            if tokens == nil or last == nil then
              tokens, last = max, now
            elseif now > last then
              local fills = math.floor((now - last) / interval)
              tokens = math.min(max, tokens + fills * per_fill)
              last = last + fills * interval
            end
            tokens = math.min(tokens, max)
            if tokens >= max then last = now end
            local allowed = 0
            if tokens >= cost then
              tokens = tokens - cost
              allowed = 1
            end
            local next_token = 0
            if tokens < max then next_token = math.max(1, last + interval - now) end
            redis.call('HSET', KEYS[1], 'tokens', tokens, 'last', last)
            local full_at = last + math.ceil((max - tokens) / per_fill) * interval
            redis.call('PEXPIRE', KEYS[1], math.max(1, full_at - now))
            return {allowed, tokens, next_token}
            """)

    /// KEYS[1] theoretical arrival time (µs); ARGV rate_per_second, burst, cost →
    /// {decision (1 now, 2 after delay, 0 reject), delay_ms or retry_after_ms}.
    ///
    /// A leaky bucket as GCRA: requests leave at `rate` per second; up to `burst` may wait their
    /// turn (admitted with a delay), more are rejected until the queue drains below `burst`.
    static let leakyBucket = RedisScript(
        prelude + """
            local rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
            local time = redis.call('TIME')
            local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
            local interval = 1000000 / rate
            local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
            local delay = tat - now
            local max_delay = burst * interval
            -- 1 µs of slack: the stored time is rounded to whole microseconds.
            if delay > max_delay + 1 then
              return {0, math.ceil((delay - max_delay) / 1000)}
            end
            local next_tat = tat + interval * cost
            local ttl = math.ceil((next_tat - now) / 1000) + 1
            redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', ttl)
            if delay <= 0 then return {1, 0} end
            return {2, math.ceil(delay / 1000)}
            """)
}

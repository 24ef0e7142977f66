/**
 * The environment for Redis's own programs: without libfaketime. Under the CI's
 * faked-clock pass (LD_PRELOAD=libfaketime) redis-server hangs at start (its
 * jemalloc and the preloaded clock deadlock); it needs no faked clock, since
 * keyswitch gives it relative lifetimes only.
 */
export function redisEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (k !== 'LD_PRELOAD' && !k.startsWith('FAKETIME')) out[k] = v;
  return out;
}

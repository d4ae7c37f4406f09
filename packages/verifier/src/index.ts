export { createVerifier } from './create-verifier.js';
export { createMemoryReplayStore, type MemoryReplayStore, type MemoryReplayStoreOptions } from './create-memory-replay-store.js';
export { createRedisReplayStore, type RedisLikeClient, type RedisReplayStoreOptions, type ReplayStoreFailure } from './create-redis-replay-store.js';
export { callerOf } from './caller-of.js';
export type {
  DiscoveryOptions,
  ReplayOptions,
  ReplayStore,
  ResolveHostname,
  VerifiedAuthToken,
  VerifiedToken,
  VerifyTokenExpectations,
  VerifiedCaller,
  VerifiedRequest,
  Verifier,
  VerifierOptions,
  VerifierStats,
  VerifyOptions,
} from './types.js';

export { createVerifier, verifyNow } from './create-verifier.js';
export { createMemoryReplayStore, type MemoryReplayStore, type MemoryReplayStoreOptions } from './create-memory-replay-store.js';
export { createMemoryRevocationStore, type MemoryRevocationStore, type MemoryRevocationStoreOptions } from './create-memory-revocation-store.js';
export { createRedisRevocationStore, type RedisRevocationClient, type RedisRevocationStore, type RedisRevocationStoreOptions } from './create-redis-revocation-store.js';
export { createRedisReplayStore, type RedisLikeClient, type RedisReplayStoreOptions, type ReplayStoreFailure } from './create-redis-replay-store.js';
export { callerOf } from './caller-of.js';
export { requestGeneration } from './request-generation.js';
/** Re-exported from core, where every token profile lives. */
export { OAUTH_ACCESS_TOKEN } from '@aauth-kit/core';
export type {
  DiscoveryOptions,
  Draft11Options,
  PresentedToken,
  PresentedTokenKind,
  RevocationCheck,
  RevocationRegistry,
  RevocationSubject,
  RevocationStore,
  RevocationStoreResult,
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

// @aauth-kit/auth-server: the embedded, Keycloak-compatible AAuth auth server. Its command line
// is `aauth-auth-server` (bin) and `@aauth-kit/auth-server/cli` (runCli, parseCliArgs).
export { createAuthServer, type AuthServer, type AuthServerOptions, type SigningAlgorithm } from './create-auth-server.js';
export { loadRealm, type LoadRealmOptions, type PasswordCredential, type RealmConfig, type RealmClient, type RealmPolicy, type RealmUser } from './load-realm.js';
export {
  createMemoryPendingStore,
  type MemoryPendingStoreOptions,
  type PendingDecision,
  type PendingRequest,
  type PendingStore,
  type ClarificationChange,
  type ClarificationTurn,
} from './pending-store.js';
export type { AuditEvent, AuditEventType } from './audit-event.js';
export { createMemoryUsedTokenStore, type MemoryUsedTokenStore, type MemoryUsedTokenStoreOptions, type UsedTokenStore } from './used-token-store.js';
export type { IssuancePolicy, PolicyDecision, PolicyInput } from './issuance-policy.js';
export { createOpaPolicy, type OpaPolicyOptions } from './create-opa-policy.js';
export type { AuditDecision } from './audit-event.js';
export type { AuditSink, AuditSinkStats } from './audit-sink.js';
export { createFileAuditSink, type AuditFsyncPolicy, type FileAuditSinkOptions } from './create-file-audit-sink.js';
export { createRedisAuditSink, type RedisAuditSinkOptions, type RedisStreamClient } from './create-redis-audit-sink.js';
export type { AuthServerRevocationOptions } from './create-auth-server.js';
export type { RevocationAnswer } from './lib/revocation-routes.js';
export type { Reconnect } from './lib/grant-revoked.js';
export { createMemoryDraft11Records, type AccessRecordStore, type Draft11Records, type IssuedAuthRecord11, type IssuedRecord11, type PersonRecordStore } from './records-11.js';
export { createRedisPendingStore, type RedisPendingStoreOptions } from './create-redis-pending-store.js';
export {
  createRedisAuthServerStores,
  type InteractionSession,
  type RateLimitStore,
  type RedisAuthServerStores,
  type RedisAuthServerStoresOptions,
  type RedisStoreClient,
  type SessionStore,
} from './create-redis-stores.js';
export {
  createTenantAuthServer,
  TenantReloadError,
  type TenantAuthServer,
  type TenantAuthServerOptions,
  type TenantRealmOptions,
  type TenantReloadResult,
} from './create-tenant-auth-server.js';

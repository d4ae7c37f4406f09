export { createAuthServer, type AuthServer, type AuthServerOptions } from './create-auth-server.js';
export { loadRealm, type LoadRealmOptions, type PasswordCredential, type RealmConfig, type RealmClient, type RealmPolicy, type RealmUser } from './load-realm.js';
export {
  createMemoryPendingStore,
  type MemoryPendingStoreOptions,
  type PendingDecision,
  type PendingRequest,
  type PendingStore,
} from './pending-store.js';
export { runCli, parseCliArgs, type CliOptions, type RunningCli } from './run-cli.js';
export type { AuditEvent, AuditEventType } from './lib/audit.js';
export type { SigningAlgorithm } from './lib/realm-key.js';

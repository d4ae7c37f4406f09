import { createWellKnownHandler, type SigningKey, type WellKnownHandler } from '@aauth-kit/core';

/** The agent metadata paths (wire profile section 9: with and without `.json`). */
export const AGENT_METADATA_PATHS = ['/.well-known/aauth-agent.json', '/.well-known/aauth-agent'] as const;

/**
 * The agent's metadata and JWKS (wire profile sections 2 and 9): `/.well-known/aauth-agent.json`
 * (and without `.json`) and `/jwks.json`, as a framework-free handler. Mounted at the root of the
 * origin it also serves them under the identity URL's path, where peers look.
 */
export function createAgentWellKnown(
  identity: string,
  key: SigningKey,
  metadata: Record<string, string>,
  form: 'parenthesised' | 'dictionary' = 'parenthesised',
): WellKnownHandler {
  // Section 9: only the known fields; the Keycloak extension fails on others. An agent signing in
  // the dictionary form (HTTP Signature Keys -08/-09) also names its `issuer`, which those
  // verifiers require (draft-11 profile section 2), and publishes its key with `alg`.
  const dictionary = form === 'dictionary';
  const document = { ...(dictionary ? { issuer: identity } : {}), agent: identity, jwks_uri: `${identity}/jwks.json`, ...metadata };
  return createWellKnownHandler({
    documents: Object.fromEntries(AGENT_METADATA_PATHS.map((path) => [path, document])),
    keys: [key.toPublishedJwk()],
    label: 'agent.wellKnown()',
    ...(dictionary ? { keyAlg: true } : {}),
    identityPath: new URL(identity).pathname,
  });
}

import { decodeToken, type Generation, type HttpRequest, type SignatureKey } from '@aauth-kit/core';
import { parseSignatureKeyMemo, toHeaderMap } from '@aauth-kit/core/internal';
import { DWK_11 } from './lib/key-discovery.js';

const BOTH: readonly Generation[] = ['keycloak', 'draft-11'];
/** The -11 well-known documents a `jwks_uri` signer may name (`dwk`). */
const SERVER_DWK_11: readonly string[] = ['aauth-agent.json', 'aauth-person.json', 'aauth-access.json', 'aauth-resource.json'];

/**
 * The generation a parsed `Signature-Key` speaks (draft-11 profile section 1): -11 for an `aa-*`
 * token under `jwt`, an `hwk` key with `alg`, a `jwks_uri` with a -11 `dwk` (`aauth-agent.json`,
 * or a server's: `aauth-person.json`, `aauth-access.json`, `aauth-resource.json`); the Keycloak profile otherwise. A verifier configured to one generation uses that one.
 */
export function generationOfKey(key: SignatureKey, generations: readonly Generation[] = BOTH): Generation {
  if (generations.length === 1) return generations[0]!;
  switch (key.scheme) {
    case 'jwt': {
      let typ: unknown;
      try {
        typ = decodeToken(key.jwt).header.typ;
      } catch {
        return 'keycloak';
      }
      return generationOfTyp(typ, generations);
    }
    case 'hwk':
      return key.jwk.alg !== undefined ? 'draft-11' : 'keycloak';
    case 'jwks_uri':
      // An agent's document, or a -11 server's (a person or access server revoking at a resource).
      return key.dwk !== undefined && SERVER_DWK_11.includes(key.dwk) ? 'draft-11' : 'keycloak';
  }
}

/** The generation a token's header `typ` speaks: -11 for an `aa-*` token, the Keycloak profile otherwise. */
export function generationOfTyp(typ: unknown, generations: readonly Generation[] = BOTH): Generation {
  if (generations.length === 1) return generations[0]!;
  return typeof typ === 'string' && typ.startsWith('aa-') ? 'draft-11' : 'keycloak';
}

/**
 * The generation to answer `request` in, before (or whatever) its verification: what its
 * `Signature-Key` speaks, else (unsigned or unreadable) the Keycloak profile when accepted, so that
 * today's answers do not change. Pure and cheap: no key, no fetch.
 */
export function requestGeneration(request: Pick<HttpRequest, 'headers'>, generations: readonly Generation[] = BOTH): Generation {
  if (generations.length === 1) return generations[0]!;
  const fallback: Generation = generations.includes('keycloak') ? 'keycloak' : 'draft-11';
  const lines = toHeaderMap(request.headers).get('signature-key');
  if (!lines || lines.length !== 1) return fallback;
  try {
    // Through the parse memo the verifier reads the same header with (issue 18: one parse, not two).
    return generationOfKey(parseSignatureKeyMemo(lines, undefined, undefined).key, generations);
  } catch {
    return fallback;
  }
}

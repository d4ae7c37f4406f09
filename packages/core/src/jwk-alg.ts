/**
 * Algorithm determination for a conveyed or resolved JWK (HTTP Signature Keys -09 section 3.3,
 * AAuth -11 "Signature Algorithms", draft-11 profile section 3).
 */
import type { AAuthErrorCode } from './errors.js';
import type { Generation } from './token-profiles.js';
import { showValue } from './lib/show-value.js';

/** A refusal of a key: the kit error code and the reason. */
export interface JwkAlgProblem {
  /** `key_alg_missing` (-09 unsupported_algorithm), `unsupported_algorithm`, `key_alg_mismatch` (-09 invalid_key) or `key_invalid`. */
  code: Extract<AAuthErrorCode, 'key_alg_missing' | 'unsupported_algorithm' | 'key_alg_mismatch' | 'key_invalid'>;
  reason: string;
}

/** The key type and curve each fully specified algorithm determines. */
const KEY_OF_ALG: Readonly<Record<string, { kty: string; crv?: string }>> = {
  Ed25519: { kty: 'OKP', crv: 'Ed25519' },
  ES256: { kty: 'EC', crv: 'P-256' },
  // The Keycloak profile only: polymorphic EdDSA, and RS256 from Keycloak's realm keys.
  EdDSA: { kty: 'OKP', crv: 'Ed25519' },
  RS256: { kty: 'RSA' },
};

/** -11 key algorithms: `Ed25519` (required) and `ES256`. */
const ALGS_11: readonly string[] = ['Ed25519', 'ES256'];

const show = (v: unknown): string => showValue(v);

/**
 * Why `jwk`'s algorithm is unacceptable in `generation`, or undefined. `draft-11`: `alg` is
 * required and one of `algorithms` (default `Ed25519`, `ES256`), never inferred from `kty`/`crv`,
 * which must agree with it; `EdDSA` is polymorphic and refused. `keycloak`: `alg` stays optional
 * (the Keycloak profile publishes keys without it), but one that is present must agree. Both refuse
 * `none`, HMAC and `oct` keys.
 */
export function jwkAlgProblem(jwk: unknown, generation: Generation, options: { algorithms?: readonly string[] | undefined } = {}): JwkAlgProblem | undefined {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return { code: 'key_invalid', reason: 'the key is not a JWK object' };
  const { kty, crv, alg } = jwk as Record<string, unknown>;
  if (kty === 'oct') return { code: 'unsupported_algorithm', reason: 'symmetric (oct) keys are never accepted' };
  if (typeof alg === 'string' && /^(none|HS\d+)$/i.test(alg)) return { code: 'unsupported_algorithm', reason: `alg ${show(alg)} is never accepted` };
  if (alg === undefined) {
    return generation === 'draft-11' ? { code: 'key_alg_missing', reason: 'the key has no alg' } : undefined;
  }
  if (typeof alg !== 'string' || alg.length === 0) return { code: 'key_alg_missing', reason: 'the key alg is not a string' };
  if (generation === 'draft-11') {
    if (alg === 'EdDSA') return { code: 'unsupported_algorithm', reason: 'alg "EdDSA" is polymorphic: -11 requires "Ed25519"' };
    const allowed = options.algorithms ?? ALGS_11;
    if (!allowed.includes(alg) || KEY_OF_ALG[alg] === undefined) return { code: 'unsupported_algorithm', reason: `alg ${show(alg)} is not one of ${allowed.join(', ')}` };
  }
  const want = KEY_OF_ALG[alg];
  if (want === undefined) return undefined;
  if (kty !== want.kty || (want.crv !== undefined && crv !== want.crv)) {
    return { code: 'key_alg_mismatch', reason: `alg ${show(alg)} does not match kty ${show(kty)}${crv === undefined ? '' : ` crv ${show(crv)}`}` };
  }
  return undefined;
}

/** The fully specified -11 `alg` of a kit key: `Ed25519` for OKP/Ed25519, `ES256` for EC/P-256. */
export function algOf11(jwk: { kty: string; crv?: string }): 'Ed25519' | 'ES256' {
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'Ed25519';
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256';
  throw new TypeError(`A ${jwk.kty}/${jwk.crv ?? '-'} key has no -11 algorithm (Ed25519 or ES256 only)`);
}

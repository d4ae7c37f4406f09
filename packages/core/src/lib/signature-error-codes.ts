/**
 * The Signature-Error codes of HTTP Signature Keys -09 (section 5.4) and the kit code -> -09 code
 * table. Kept apart from signature-error.ts so errors.ts can read it without an import cycle.
 */

/** Every error code of HTTP Signature Keys -09, section 5.4 (the registry of its section 9.4.1). */
export const SIGNATURE_ERROR_CODES = [
  'unsupported_algorithm',
  'unsupported_scheme',
  'cache_miss',
  'invalid_signature',
  'invalid_input',
  'invalid_request',
  'invalid_key',
  'unknown_key',
  'issuer_missing',
  'issuer_mismatch',
  'invalid_jwt',
  'expired_jwt',
  'revoked_jwt',
  'clock_skew',
] as const;

/** A -09 Signature-Error code. */
export type SignatureErrorCode = (typeof SIGNATURE_ERROR_CODES)[number];

/**
 * Kit error code -> -09 code, for every kit code that is a signature failure (always a 401 in
 * AAuth -11, section "Verification"). Codes not listed (challenges, 403, 4xx input limits, 5xx)
 * never carry a Signature-Error.
 */
export const SIGNATURE_ERROR_OF: Readonly<Record<string, SignatureErrorCode>> = {
  // A missing Signature, Signature-Input or Signature-Key is invalid_signature: HTTP Signature Keys
  // -09 section 5.4.4, AAuth -11 section 11.3.4 (the -10 -> -11 upgrade lists, RS-50 and PS-102:
  // "was invalid_request"; the editor's copy of August 2026 still said invalid_request).
  signature_missing: 'invalid_signature',
  signature_malformed: 'invalid_signature',
  // The Go vectors (signature-key.json): a Signature-Key member that is not a scheme token with
  // its parameters, or lacks the scheme's parameter, is invalid_signature.
  signature_key_malformed: 'invalid_signature',
  signature_label_mismatch: 'invalid_signature',
  signature_duplicate: 'invalid_signature',
  // -09 section 5.4.5: a required component is not covered.
  signature_coverage: 'invalid_input',
  digest_missing: 'invalid_input',
  signature_component_missing: 'invalid_signature',
  signature_created_missing: 'invalid_signature',
  signature_stale: 'invalid_signature',
  // -09 section 5.4.14: `created` ahead of the verifier's clock by more than the window.
  signature_future: 'clock_skew',
  signature_expired: 'invalid_signature',
  signature_invalid: 'invalid_signature',
  signature_replayed: 'invalid_signature',
  digest_malformed: 'invalid_signature',
  digest_mismatch: 'invalid_signature',
  key_invalid: 'invalid_key',
  // -09 section 3.3, -11 "Verification" step 6: kty or crv disagreeing with alg is invalid_key;
  // an absent or polymorphic alg is unsupported_algorithm.
  key_alg_mismatch: 'invalid_key',
  key_alg_missing: 'unsupported_algorithm',
  unsupported_algorithm: 'unsupported_algorithm',
  unsupported_scheme: 'unsupported_scheme',
  key_not_found: 'unknown_key',
  key_discovery_failed: 'invalid_key',
  egress_denied: 'invalid_key',
  metadata_invalid: 'invalid_key',
  issuer_missing: 'issuer_missing',
  issuer_mismatch: 'issuer_mismatch',
  // The JWT under `sig=jwt` (-09 sections 5.4.11-5.4.14).
  token_malformed: 'invalid_jwt',
  token_typ_invalid: 'invalid_jwt',
  token_alg_not_allowed: 'invalid_jwt',
  token_signature_invalid: 'invalid_jwt',
  token_lifetime_invalid: 'invalid_jwt',
  token_audience_invalid: 'invalid_jwt',
  token_issuer_untrusted: 'invalid_jwt',
  token_claim_invalid: 'invalid_jwt',
  token_agent_mismatch: 'invalid_jwt',
  token_cnf_missing: 'invalid_jwt',
  token_expired: 'expired_jwt',
  token_revoked: 'revoked_jwt',
  token_not_yet_valid: 'clock_skew',
  // Under `sig=jwt` the key is the token's cnf.jwk: a request it did not sign does not verify.
  token_cnf_mismatch: 'invalid_signature',
};

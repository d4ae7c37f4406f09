import { AAuthError, isAAuthError, type HttpRequest } from '@aauth-kit/core';
import { hasBody, parseSignatureKeyMemo, toHeaderMap } from '@aauth-kit/core/internal';
import type { Verifier } from '@aauth-kit/verifier';
import type { Signer } from './context.js';

/**
 * Establish who signed a request to the auth server (section 8): an unsigned request is
 * `request_unsigned` (401 invalid_request); token requests are signed with the agent's own key
 * (`jwks_uri` or `hwk`), and a body must be covered by `content-type` and `content-digest`.
 */
export async function verifySigner(verifier: Verifier, request: HttpRequest, caller?: string): Promise<Signer> {
  const headers = toHeaderMap(request.headers);
  if (!headers.has('signature-key') && !headers.has('signature') && !headers.has('signature-input')) {
    throw new AAuthError('request_unsigned');
  }
  try {
    // Cheap scheme check before any verification work: the jwt scheme carries a token meant for a resource.
    // Through the verifier's memo (an agent repeats its Signature-Key), which the verify below reads again.
    const { key } = parseSignatureKeyMemo(headers.get('signature-key'), undefined, undefined);
    if (key.scheme === 'jwt') {
      throw new AAuthError('unsupported_scheme', 'The auth server accepts requests signed with the agent\'s own key (hwk or jwks_uri), not the jwt scheme', {
        headers: { 'Signature-Error': 'error=unsupported_scheme', 'Accept-Signature-Scheme': 'hwk, jwks_uri' },
      });
    }
    // `caller` (the client's address) holds its key discovery to `discovery.maxInflightPerCaller` (issue 13).
    const verified = await verifier.verify(request, { ...(hasBody(request.body) ? { requiredComponents: ['content-type'] } : {}), caller });
    if (verified.scheme === 'jwt') throw new AAuthError('unsupported_scheme');
    const signature = Buffer.from(verified.signed.signature).toString('base64url');
    return { scheme: verified.scheme, agent: verified.agent, thumbprint: verified.thumbprint, jwk: verified.key.jwk, signature, caller };
  } catch (error) {
    if (isAAuthError(error, 'signature_missing')) {
      throw new AAuthError('request_unsigned', error.message, { cause: error });
    }
    throw error;
  }
}

import { AAuthError, type AAuthErrorCode, type Challenge } from '@aauth-kit/core';

/**
 * A 401 challenge this agent cannot (or must not) satisfy: no resource token, an untrusted auth
 * server, a resource token issued to someone else, an unknown requirement. Holds the parsed
 * challenge and the resource's response (body unread).
 */
export class AAuthChallengeError extends AAuthError {
  /** The parsed challenge; undefined when the header itself was malformed. */
  readonly challenge: Challenge | undefined;
  /** The resource's 401 response. */
  readonly response: Response;

  constructor(code: AAuthErrorCode, message: string, options: { challenge: Challenge | undefined; response: Response; cause?: unknown }) {
    super(code, message, options.cause === undefined ? {} : { cause: options.cause });
    Object.defineProperty(this, 'name', { value: 'AAuthChallengeError', enumerable: false });
    this.challenge = options.challenge;
    this.response = options.response;
  }
}

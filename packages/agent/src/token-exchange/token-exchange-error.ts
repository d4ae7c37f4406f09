import { AAuthError, type AAuthErrorCode } from '@aauth-kit/core';

/**
 * A refused or failed token exchange: `code` is `exchange_<error>` for the RFC 6749 section 5.2 /
 * RFC 8693 section 2.2.2 errors, else `exchange_failed`; the server's `error` and
 * `error_description` (stripped of anything token-shaped) are kept.
 */
export class TokenExchangeError extends AAuthError {
  /** The authorization server's `error`, when it sent one. */
  readonly oauthError: string | undefined;
  /** The authorization server's `error_description`, when it sent one. */
  readonly errorDescription: string | undefined;
  /** The HTTP status of the token endpoint's answer; undefined when there was none. */
  readonly responseStatus: number | undefined;

  constructor(
    code: AAuthErrorCode,
    message: string,
    options: { oauthError?: string | undefined; errorDescription?: string | undefined; responseStatus?: number | undefined; cause?: unknown } = {},
  ) {
    super(code, message, {
      ...(options.cause === undefined ? {} : { cause: options.cause }),
      details: { status: options.responseStatus, error: options.oauthError, error_description: options.errorDescription },
    });
    this.oauthError = options.oauthError;
    this.errorDescription = options.errorDescription;
    this.responseStatus = options.responseStatus;
  }
}

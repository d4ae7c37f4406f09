/** Header input accepted everywhere: a plain record (node/express style), a fetch `Headers`, or pairs. */
export type HeadersInput =
  | Record<string, string | string[] | number | undefined>
  | Headers
  | Iterable<readonly [string, string]>;

/** A framework-neutral HTTP request, as the verifier and signer see it. */
export interface HttpRequest {
  method: string;
  /** Absolute URL as the client addressed it. */
  url: string | URL;
  headers: HeadersInput;
  /** The raw body bytes (strings are UTF-8); absent or empty means no body. */
  body?: string | Uint8Array | null | undefined;
}

/** Lower-cased header name -> field lines, in order. */
export type HeaderMap = Map<string, string[]>;

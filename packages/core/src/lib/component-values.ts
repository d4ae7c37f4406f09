import { AAuthError } from '../errors.js';
import type { HeaderMap, UrlParts } from './request.js';

/**
 * The hot-path derivation of RFC 9421 component values (section 2) for the components the AAuth
 * profile covers: derived components without parameters and plain header fields. It is checked
 * against http-message-signatures (the reference `createSignatureBase`) by property tests.
 */
export function componentValue(component: string, method: string, url: UrlParts, headers: HeaderMap): string {
  if (component.charCodeAt(0) === 64 /* @ */) {
    switch (component) {
      case '@method':
        return method;
      case '@authority':
        // WHATWG URL already lower-cases the host and drops default ports (section 2.2.3).
        return url.host;
      case '@path':
        return url.pathname || '/';
      case '@query':
        // Section 2.2.7: the leading "?" is part of the value; an absent query is "?".
        return url.search || '?';
      case '@target-uri':
        return url.href;
      case '@scheme':
        return url.protocol.slice(0, -1);
      case '@request-target':
        return `${url.pathname}${url.search}`;
      default:
        throw new AAuthError('signature_malformed', `Cannot derive a covered component: unsupported component "${component}"`);
    }
  }
  const lines = headers.get(component);
  if (!lines) throw new AAuthError('signature_component_missing', `A covered component is absent: no header "${component}"`);
  // Section 2.1: trim each field line, fold obsolete line folding, join lines with ", ".
  if (lines.length === 1) return clean(lines[0]!);
  return lines.map(clean).join(', ');
}

function clean(value: string): string {
  const trimmed = value.trim();
  return trimmed.includes('\n') ? trimmed.replace(/\n\s*/g, ' ') : trimmed;
}

/**
 * The characters of a field name (RFC 9110 token, lower case) or a derived component name after
 * its `@`, as a table of the ASCII range: `/^@?[a-z0-9!#$%&'*+.^_`|~-]+$/` by a loop (issue 18).
 */
const NAME_CHAR = /* @__PURE__ */ (() => {
  const table = new Uint8Array(128);
  const chars = "abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+.^_`|~-";
  for (let i = 0; i < chars.length; i++) table[chars.charCodeAt(i)] = 1;
  return table;
})();

/** A field name (RFC 9110 token, lower case) or a derived component name. */
function isComponentName(component: string): boolean {
  const start = component.charCodeAt(0) === 64 /* @ */ ? 1 : 0;
  if (component.length <= start) return false;
  for (let i = start; i < component.length; i++) {
    const code = component.charCodeAt(i);
    if (code >= 128 || NAME_CHAR[code] === 0) return false;
  }
  return true;
}

/** Build the signature base (section 2.5) from plain component names and the serialized parameters. */
export function buildSignatureBase(
  components: readonly string[],
  method: string,
  url: UrlParts,
  headers: HeaderMap,
  signatureParams: string,
): string {
  let base = '';
  for (let i = 0; i < components.length; i++) {
    const component = components[i]!;
    if (!isComponentName(component)) {
      throw new AAuthError('signature_malformed', `Component ${JSON.stringify(component)} is not a lower-case field or derived component name`);
    }
    if (component === '@signature-params') throw new AAuthError('signature_malformed', '@signature-params cannot be covered');
    if (components.indexOf(component) !== i) throw new AAuthError('signature_malformed', `Component ${JSON.stringify(component)} is covered twice`);
    base += `"${component}": ${componentValue(component, method, url, headers)}\n`;
  }
  return `${base}"@signature-params": ${signatureParams}`;
}

/**
 * What is wrong with text `JSON.parse` refused, without any of the text. V8 quotes up to about ten
 * characters of it in some messages (`Unexpected token 'x', "nWGxne_9Wm"... is not valid JSON`):
 * from a key file or a realm export that would put part of a secret in a log. Messages that name a
 * position are kept (they quote nothing); the others say what kind of problem it is.
 */
export function jsonSyntaxText(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/ is not valid JSON$/.test(message) || /^Unexpected token/.test(message)) {
    return 'it does not start as JSON, or holds a character JSON does not allow (not quoted here: the text may be secret)';
  }
  // Position-only forms ("... in JSON at position 47", "Unexpected end of JSON input"): nothing of the text.
  return message.replace(/[\r\n]+/g, ' ').slice(0, 200);
}

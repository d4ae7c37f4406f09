// C0 and C1 control characters (ESC, BEL, CSI U+009B, ...), which a terminal would act on, and the
// bidirectional overrides that reorder what is shown. Text from a token or an audit log is
// attacker-controlled (a client id sent to the revoke endpoint lands in the audit log).
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** `text` with every control character shown as `\uXXXX`, so printing it cannot drive the terminal. */
export function printable(text: string): string {
  return text.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Epoch seconds as ISO 8601, or undefined when not a time a Date can hold (±8.64e12 s). */
export function isoSeconds(value: unknown): string | undefined {
  return typeof value === 'number' && Number.isFinite(value) && Math.abs(value) <= 8.64e12 ? new Date(value * 1000).toISOString() : undefined;
}

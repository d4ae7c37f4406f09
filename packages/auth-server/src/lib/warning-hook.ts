import { catchRejection } from '@aauth-kit/core/internal';

/**
 * The warning function of a server or sink: the caller's `onWarning`, else `console.warn` tagged
 * `tag`. A hook that throws (or returns a promise that rejects) is reported on `console.warn`
 * beside the warning it was given, never to the code that warned: warnings are sent from request
 * handlers, timers and promise callbacks, where a throwing logger would change an answer or end
 * the process with an unhandled rejection.
 */
export function warningHook(onWarning: ((message: string) => void) | undefined, tag: string): (message: string) => void {
  if (onWarning === undefined) return (message) => console.warn(`${tag} ${message}`);
  const failed = (message: string, how: string, error: unknown): void => {
    console.warn(`${tag} onWarning ${how} (${error instanceof Error ? error.message : String(error)}) on the warning: ${message}`);
  };
  return (message) => {
    try {
      catchRejection(onWarning(message), (error) => failed(message, 'rejected', error));
    } catch (error) {
      failed(message, 'threw', error);
    }
  };
}

/** A bad command line: printed as one line, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** An option the command does not take, or a value missing: the caller adds where the options are listed. */
export class ArgumentError extends UsageError {}

/** What a command needs from the outside world, injectable for tests. */
export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  readStdin: () => Promise<string>;
  /**
   * Bytes to stdout as they are (a piece of a response body, written as it arrives); default: stdout
   * of their UTF-8 text. A promise is awaited before the next piece is read (backpressure).
   */
  stdoutBytes?: (bytes: Uint8Array) => void | Promise<void>;
  /**
   * Call `handler` on the first interrupt (Ctrl-C, SIGINT) while a command waits; returns the undo.
   * Absent: an interrupt keeps its default (the process ends at once).
   */
  onInterrupt?: (handler: () => void) => () => void;
  /**
   * Ask the person at the terminal for one line (the answer to a clarification), `prompt` shown on
   * stderr; `signal` stops the question (undefined then). Absent when stdin is no terminal.
   */
  readLine?: ((prompt: string, signal?: AbortSignal) => Promise<string | undefined>) | undefined;
}

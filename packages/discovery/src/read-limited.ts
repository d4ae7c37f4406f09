/** Read a body stream into bytes, refusing more than `max` bytes (the stream is cancelled then); `signal` aborting cancels it and rejects with its reason. */
export async function readLimited(stream: ReadableStream<Uint8Array> | null, max: number, onTooLarge: () => Error, signal?: AbortSignal): Promise<Uint8Array> {
  if (stream === null) return new Uint8Array(0);
  if (signal?.aborted) {
    await stream.cancel(signal.reason).catch(() => undefined);
    throw signal.reason;
  }
  const reader = stream.getReader();
  // Aborting cancels the stream (its source hears it), which ends the read under way.
  const onAbort = (): void => void reader.cancel(signal!.reason).catch(() => undefined);
  signal?.addEventListener('abort', onAbort, { once: true });
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (signal?.aborted) throw signal.reason;
      if (done) break;
      size += value.byteLength;
      if (size > max) {
        await reader.cancel().catch(() => undefined);
        throw onTooLarge();
      }
      chunks.push(value);
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

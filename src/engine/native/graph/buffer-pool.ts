// Float32 buffers outside the wasm heap for the activations a native forward pass saves for its
// backward pass. The same shapes come back every step, so buffers are handed out again instead
// of allocated: memory stays at one step's worth (the wasm heap, by contrast, never shrinks).
// A forward whose backward never runs simply never gives its buffers back; they are collected.

/** At most this many idle buffers are kept per length. */
const MAX_IDLE_PER_LENGTH = 8;

export class BufferPool {
  private readonly idle = new Map<number, Float32Array[]>();

  /** One buffer per name, sized for its dims. */
  take(dims: Record<string, number[]>): Record<string, Float32Array> {
    const out: Record<string, Float32Array> = {};
    for (const [name, d] of Object.entries(dims)) {
      const length = d.reduce((a, b) => a * b, 1);
      out[name] = this.idle.get(length)?.pop() ?? new Float32Array(length);
    }
    return out;
  }

  give(buffers: Record<string, Float32Array>): void {
    for (const buffer of Object.values(buffers)) {
      const list = this.idle.get(buffer.length) ?? [];
      if (list.length < MAX_IDLE_PER_LENGTH) list.push(buffer);
      this.idle.set(buffer.length, list);
    }
  }

  /** Drops every idle buffer (tests, and callers that are done training). */
  clear(): void {
    this.idle.clear();
  }
}

/**
 * Small helpers shared by the queue's modules: a FIFO without per-operation allocation, error
 * shaping, and the event reporter (`onEvent` with a listener that can never break the queue).
 */
import type { FsError } from '../core/ports';
import type { QueueEvent, QueueEventListener } from '../core/events';
import { QueueIoError } from './errors';

/** A FIFO over an array with a moving head: O(1) push/shift, indexable, no per-op allocation. */
export class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(x: T): void {
    this.items.push(x);
  }
  peek(): T | undefined {
    return this.items[this.head];
  }
  at(i: number): T | undefined {
    return this.items[this.head + i];
  }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const x = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return x;
  }
  clear(): void {
    this.items = [];
    this.head = 0;
  }
}

export const isCode = (e: unknown, code: string): boolean =>
  typeof e === 'object' && e !== null && (e as Partial<FsError>).code === code;

/** The disk (or the user's quota) is full: backpressure, not a failure. */
export const isNoSpace = (e: unknown): boolean => isCode(e, 'ENOSPC') || isCode(e, 'EDQUOT');

export const ioError = (what: string, cause: unknown): QueueIoError => {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new QueueIoError(`${what}: ${detail}`, { cause });
};

export const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * Hands the queue's background events to the user's listener (none by default). A listener that
 * throws must not break the queue's bookkeeping (the event is about something already done), so
 * its exception is dropped here, on purpose.
 */
export class EventReporter {
  constructor(private readonly listener: QueueEventListener | undefined) {}
  emit(event: QueueEvent): void {
    if (this.listener === undefined) return;
    try {
      this.listener(event);
    } catch {
      // A faulty listener is the listener's problem; the queue carries on.
    }
  }
}

/** `resolve` and `reject` that first take `onAbort` off `signal`: a settled append stops listening. */
export const detachingOnSettle = <T>(
  signal: AbortSignal,
  onAbort: () => void,
  resolve: (v: T) => void,
  reject: (e: Error) => void,
): { resolve: (v: T) => void; reject: (e: Error) => void } => ({
  resolve: (v) => {
    signal.removeEventListener('abort', onAbort);
    resolve(v);
  },
  reject: (e) => {
    signal.removeEventListener('abort', onAbort);
    reject(e);
  },
});

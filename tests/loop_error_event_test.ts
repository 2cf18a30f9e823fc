// The loop's "error" event goes to its listeners exactly while there are
// some; otherwise errors reach the global handler. Regression tests for
// issue 11: the listener count used to count add/remove calls, so a
// `once` listener that fired, or a duplicate add, left errors dispatched to
// nobody.
import assert from "node:assert/strict";
import { EventLoop, TcpConnection, TcpListener } from "../mod.ts";
import { within } from "./helpers.ts";

// Makes the loop report one error nobody else takes: a listener callback
// that throws (listeners have no onError).
async function oneError(loop: EventLoop, listener: TcpListener): Promise<void> {
  const conn = await TcpConnection.connect("127.0.0.1", listener.localPort, { loop });
  await conn.close();
}

// Catches what reaches the global handler (Deno's uncaught "error" event),
// so that the test can see it instead of dying of it.
function globalErrors(): { errors: unknown[]; stop(): void } {
  const errors: unknown[] = [];
  const onError = (e: ErrorEvent) => {
    e.preventDefault();
    errors.push(e.error);
  };
  globalThis.addEventListener("error", onError);
  return { errors, stop: () => globalThis.removeEventListener("error", onError) };
}

async function withThrowingListener(fn: (loop: EventLoop, l: TcpListener) => Promise<void>): Promise<void> {
  const loop = new EventLoop();
  const listener = await TcpListener.listen("127.0.0.1", 0, { loop });
  let n = 0;
  listener.onConnection = (_l, conn) => {
    conn.dispose();
    throw new Error(`boom ${++n}`);
  };
  try {
    await fn(loop, listener);
  } finally {
    listener.close();
    await loop.close();
  }
}

async function nextError(errors: unknown[], count: number, what: string): Promise<void> {
  await within(
    (async () => {
      for (let i = 0; i < 2000 && errors.length < count; i++) await new Promise((r) => setTimeout(r, 2));
    })(),
    10_000,
    what,
  );
  assert.equal(errors.length, count, what);
}

Deno.test("an error after a once listener fired goes to the global handler", async () => {
  const global = globalErrors();
  try {
    await withThrowingListener(async (loop, listener) => {
      const seen: unknown[] = [];
      loop.addEventListener("error", (e) => seen.push((e as ErrorEvent).error), { once: true });
      await oneError(loop, listener);
      await nextError(seen, 1, "the once listener");
      await oneError(loop, listener);
      await nextError(global.errors, 1, "the global handler after the once listener fired");
      assert.equal(seen.length, 1);
      assert.match(String(global.errors[0]), /boom 2/);
    });
  } finally {
    global.stop();
  }
});

Deno.test("a listener added twice and removed once leaves errors to the global handler", async () => {
  const global = globalErrors();
  try {
    await withThrowingListener(async (loop, listener) => {
      const seen: unknown[] = [];
      const onError = (e: Event) => seen.push((e as ErrorEvent).error);
      loop.addEventListener("error", onError);
      loop.addEventListener("error", onError); // EventTarget ignores it
      loop.removeEventListener("error", onError);
      await oneError(loop, listener);
      await nextError(global.errors, 1, "the global handler");
      assert.equal(seen.length, 0);
    });
  } finally {
    global.stop();
  }
});

Deno.test("an error listener removed by its AbortSignal no longer takes errors", async () => {
  const global = globalErrors();
  try {
    await withThrowingListener(async (loop, listener) => {
      const seen: unknown[] = [];
      const ctl = new AbortController();
      loop.addEventListener("error", (e) => seen.push((e as ErrorEvent).error), { signal: ctl.signal });
      await oneError(loop, listener);
      await nextError(seen, 1, "the listener");
      ctl.abort();
      const other: unknown[] = [];
      loop.addEventListener("error", (e) => other.push((e as ErrorEvent).error));
      await oneError(loop, listener);
      await nextError(other, 1, "the remaining listener");
      assert.equal(seen.length, 1, "the aborted listener is gone");
    });
  } finally {
    global.stop();
  }
});

Deno.test("error listeners with and without capture are separate registrations", async () => {
  const global = globalErrors();
  try {
    await withThrowingListener(async (loop, listener) => {
      const seen: unknown[] = [];
      const onError = (e: Event) => seen.push((e as ErrorEvent).error);
      loop.addEventListener("error", onError, { capture: true });
      loop.addEventListener("error", onError);
      loop.removeEventListener("error", onError); // the capture one stays
      await oneError(loop, listener);
      await nextError(seen, 1, "the capture listener");
      loop.removeEventListener("error", onError, true);
      await oneError(loop, listener);
      await nextError(global.errors, 1, "the global handler once both are gone");
    });
  } finally {
    global.stop();
  }
});

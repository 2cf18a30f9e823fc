/** Pipes have TCP's stream surface: readable/writable and pause/resume. */
import assert from "node:assert/strict";
import { Pipe, PipeListener } from "../mod.ts";
import { pipePath, sleep, within } from "./helpers.ts";

Deno.test("pipes: readable/writable streams and pause/resume as TCP", async () => {
  const listener = await PipeListener.listen(pipePath(10));
  const accepted = listener.accept();
  const client = await Pipe.connect(listener.path, { timeoutMs: 10_000 });
  const server = await within(accepted, 10_000, "accept");
  const writer = client.writable.getWriter();
  await writer.write(new TextEncoder().encode("through "));
  server.pauseReading();
  await writer.write(new TextEncoder().encode("streams"));
  const reader = server.readable.getReader();
  await sleep(50);
  server.resumeReading();
  let text = "";
  while (text.length < "through streams".length) {
    const { value, done } = await within(reader.read(), 10_000, "read");
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  assert.equal(text, "through streams");
  await writer.close(); // a pipe cannot half-close: this closes the client
  assert.equal(client.state, "closed");
  const { done } = await within(reader.read(), 10_000, "end");
  assert.equal(done, true);
  listener.close();
});

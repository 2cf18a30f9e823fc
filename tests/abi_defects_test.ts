/**
 * Issue 13's defects of the C ABI, reproduced through the FFI on both
 * backends (the C tests keep the same repros in native/test/regress.c).
 */
import assert from "node:assert/strict";
import { EventLoop } from "../mod.ts";
import { native } from "../ffi/library.ts";
import { CloseMode } from "../ffi/records.ts";
import { Code } from "../src/errors.ts";
import { unsafeLoop } from "../src/unsafe.ts";

Deno.test("aio_error_name refuses INT32_MIN (its negation overflowed into an index: a crash)", () => {
  const n = native();
  const out = new Uint8Array(32);
  for (const code of [-0x80000000, -0x7fffffff, 0x7fffffff, -Code.EAFNOSUPPORT - 1]) {
    assert.equal(n.aio_error_name(code, out, out.length), -Code.EINVAL, `code ${code}`);
  }
  const len = n.aio_error_name(-Code.EPIPE, out, out.length);
  assert.equal(new TextDecoder().decode(out.subarray(0, len)), "EPIPE");
});

Deno.test("a stale id stays dead across 5,000 sequential handles (the generation wrapped after 2,047)", async () => {
  const loop = new EventLoop();
  try {
    const n = native();
    const ptr = unsafeLoop(loop).ptr;
    // 127.0.0.1, port 0: the aio_addr layout (family, port, scope, bytes).
    const addr = new Uint8Array(24);
    const view = new DataView(addr.buffer);
    view.setUint16(0, 4, true);
    addr.set([127, 0, 0, 1], 8);
    const first = n.aio_tcp_listen(ptr, addr, 1, 0, 1);
    assert.ok(first > 0, `listen: ${first}`);
    assert.equal(n.aio_close(ptr, first, CloseMode.NOW), 0);
    let revived = 0, repeated = 0;
    for (let i = 0; i < 5000; i++) {
      const id = n.aio_tcp_listen(ptr, addr, 1, 0, 1);
      assert.ok(id > 0, `listen #${i}: ${id}`);
      if (id === first) repeated++;
      if (n.aio_read_stop(ptr, first) !== -Code.EBADID) revived++;
      assert.equal(n.aio_close(ptr, id, CloseMode.NOW), 0);
    }
    assert.equal(repeated, 0, "the first id was handed out again");
    assert.equal(revived, 0, "the stale id reached a live handle");
    assert.equal(n.aio_loop_handle_count(ptr), 0);
  } finally {
    await loop.close();
  }
});

/** The record/address layout and the error table agree between C and TS. */
import assert from "node:assert/strict";
import { native } from "../ffi/library.ts";
import { expectedLayout } from "../ffi/records.ts";
import { CODE_NAMES } from "../src/errors.ts";

Deno.test("record and address layout match the shim", () => {
  const out = new Int32Array(32);
  const n = native().aio_layout(out, out.length);
  assert.deepEqual([...out.subarray(0, n)], expectedLayout());
});

Deno.test("error names match the shim's table", () => {
  const buf = new Uint8Array(32);
  for (let code = 1; code < CODE_NAMES.length; code++) {
    const len = native().aio_error_name(code, buf, buf.length);
    assert.ok(len > 0, `code ${code}`);
    assert.equal(new TextDecoder().decode(buf.subarray(0, len)), CODE_NAMES[code]);
  }
  assert.ok(native().aio_error_name(CODE_NAMES.length, buf, buf.length) < 0, "no code past the table");
});

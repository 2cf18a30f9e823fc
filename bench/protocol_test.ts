/**
 * The suite's checks must fail a fast wrong answer: a bulk stream with a
 * lost, repeated, reordered or altered block, or a short count; an echo
 * that differs. (`deno test bench/`)
 */
import assert, { equal as assertEquals } from "node:assert/strict";
import { BLOCK, blockTemplate, BulkChecker, judgeReply, pingMessage, sameBytes, stampBlock } from "./peers/protocol.ts";

/** Blocks `order` of a stream, delivered in uneven chunks. */
function deliver(order: number[], chunk = 10_000): Uint8Array {
  const template = blockTemplate();
  const check = new BulkChecker();
  const stream = new Uint8Array(order.length * BLOCK);
  order.forEach((k, i) => stream.set(stampBlock(template, k), i * BLOCK));
  for (let off = 0; off < stream.length; off += chunk) check.push(stream.subarray(off, off + chunk));
  return check.reply();
}

Deno.test("a correct stream passes, whatever the chunking", () => {
  for (const chunk of [1, 3, 4096, 65536, 100_000]) {
    assertEquals(judgeReply(deliver([0, 1, 2, 3], chunk), 4 * BLOCK).ok, true, `chunk ${chunk}`);
  }
});

Deno.test("lost, repeated or reordered blocks fail", () => {
  assertEquals(judgeReply(deliver([0, 1, 3]), 3 * BLOCK).ok, false);
  assertEquals(judgeReply(deliver([0, 1, 1, 2]), 4 * BLOCK).ok, false);
  assertEquals(judgeReply(deliver([0, 2, 1, 3]), 4 * BLOCK).ok, false);
});

Deno.test("a short count or altered filler fails", () => {
  assertEquals(judgeReply(deliver([0, 1]), 3 * BLOCK).ok, false);
  const check = new BulkChecker();
  const block = stampBlock(blockTemplate(), 0);
  block[BLOCK / 2] ^= 1;
  check.push(block);
  assertEquals(judgeReply(check.reply(), BLOCK).ok, false);
});

Deno.test("an echo of another round or connection differs", () => {
  assert(sameBytes(pingMessage(3, 7), pingMessage(3, 7)));
  assert(!sameBytes(pingMessage(3, 7), pingMessage(3, 8)));
  assert(!sameBytes(pingMessage(3, 7), pingMessage(4, 7)));
});

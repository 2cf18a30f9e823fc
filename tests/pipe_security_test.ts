/**
 * Windows: what a listening named pipe lets others do. The DACL is read
 * back through the OS (GetSecurityInfo on a handle opened with
 * READ_CONTROL). The creation modes (FILE_FLAG_FIRST_PIPE_INSTANCE,
 * PIPE_REJECT_REMOTE_CLIENTS, overlapped), which no API reads back from a
 * pipe handle, are checked by the C test that reads the internals
 * (native/test/unit_pipe_modes.c).
 *
 * Not provable under Wine: Wine does not enforce
 * FILE_FLAG_FIRST_PIPE_INSTANCE (a second server of a name succeeds) nor
 * does it have remote clients to reject; the C test checks that both flags
 * are passed, and the AddrInUse test in pipe_named_test.ts covers the
 * name-in-use check that guards Wine.
 */
import assert from "node:assert/strict";
import { EventLoop, PipeListener } from "../mod.ts";
import { isWindows, pipePath } from "./helpers.ts";

function wide(s: string): Uint16Array {
  const out = new Uint16Array(s.length + 1);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function readWide(ptr: Deno.PointerObject): string {
  const view = new Deno.UnsafePointerView(ptr);
  let s = "";
  for (let i = 0; i < 65536; i += 2) {
    const c = view.getUint16(i);
    if (c === 0) break;
    s += String.fromCharCode(c);
  }
  return s;
}

/** The SDDL of the DACL of the pipe `name`, read through a client handle. */
function pipeDaclSddl(name: string): string {
  const k32 = Deno.dlopen("kernel32.dll", {
    CreateFileW: { parameters: ["buffer", "u32", "u32", "pointer", "u32", "u32", "pointer"], result: "pointer" },
    CloseHandle: { parameters: ["pointer"], result: "i32" },
    LocalFree: { parameters: ["pointer"], result: "pointer" },
    GetLastError: { parameters: [], result: "u32" },
  });
  const adv = Deno.dlopen("advapi32.dll", {
    GetSecurityInfo: {
      parameters: ["pointer", "u32", "u32", "pointer", "pointer", "buffer", "pointer", "buffer"],
      result: "u32",
    },
    ConvertSecurityDescriptorToStringSecurityDescriptorW: {
      parameters: ["pointer", "u32", "u32", "buffer", "pointer"],
      result: "i32",
    },
  });
  try {
    const READ_CONTROL = 0x00020000, OPEN_EXISTING = 3;
    const h = k32.symbols.CreateFileW(wide(name), READ_CONTROL, 0, null, OPEN_EXISTING, 0, null);
    if (h === null || Deno.UnsafePointer.value(h) === 0xffffffffffffffffn) {
      throw new Error(`CreateFileW ${name}: error ${k32.symbols.GetLastError()}`);
    }
    try {
      const SE_KERNEL_OBJECT = 6, DACL_SECURITY_INFORMATION = 4;
      const dacl = new BigUint64Array(1), sd = new BigUint64Array(1);
      const r = adv.symbols.GetSecurityInfo(h, SE_KERNEL_OBJECT, DACL_SECURITY_INFORMATION, null, null, dacl, null, sd);
      assert.equal(r, 0, `GetSecurityInfo: ${r}`);
      const sdPtr = Deno.UnsafePointer.create(sd[0])!;
      const str = new BigUint64Array(1);
      const ok = adv.symbols.ConvertSecurityDescriptorToStringSecurityDescriptorW(sdPtr, 1, 4, str, null);
      assert.ok(ok, "ConvertSecurityDescriptorToStringSecurityDescriptorW");
      const strPtr = Deno.UnsafePointer.create(str[0])!;
      const sddl = readWide(strPtr);
      k32.symbols.LocalFree(strPtr);
      k32.symbols.LocalFree(sdPtr);
      return sddl;
    } finally {
      k32.symbols.CloseHandle(h);
    }
  } finally {
    k32.close();
    adv.close();
  }
}

Deno.test({
  name: "Windows: a listening pipe's DACL grants only the user and SYSTEM, and it rejects remote clients",
  ignore: !isWindows,
  async fn() {
    const loop = new EventLoop();
    try {
      const listener = await PipeListener.listen(pipePath(9), { loop });
      const sddl = pipeDaclSddl(listener.path);
      assert.match(sddl, /^D:/, sddl);
      const aces = [...sddl.matchAll(/\(([^)]*)\)/g)].map((m) => m[1]);
      assert.ok(aces.length >= 2, `two ACEs at least: ${sddl}`);
      const trustees = aces.map((a) => a.split(";")[5]);
      for (const t of trustees) {
        assert.ok(t !== "WD" && t !== "AN" && t !== "S-1-1-0" && t !== "S-1-5-7", `no Everyone/anonymous: ${sddl}`);
      }
      assert.ok(trustees.includes("SY"), `SYSTEM is granted: ${sddl}`);
      assert.ok(trustees.some((t) => /^S-1-5-21-/.test(t) || t === "OW"), `the user is granted: ${sddl}`);
      for (const a of aces) assert.equal(a.split(";")[0], "A", `only allow ACEs: ${sddl}`);
      listener.close();
    } finally {
      await loop.close();
    }
  },
});

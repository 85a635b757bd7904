#!/usr/bin/env python3
"""The hostile corpus of issue 9: Wasm binaries written byte by byte (Python 3 standard library
only), each one a way a module's author may try to crash, exhaust or escape a node.

Usage: gen_hostile.py OUT_DIR [MARKER_PATH]   writes every case as OUT_DIR/NAME.wasm and prints
                                               one line per case (name, size, what it is)
As a library: cases(marker_path) -> [Case], in a fixed order; nothing is random (the garbage
case uses a fixed seed), so a failure reproduces from the case's name.

MARKER_PATH is the file the injected-name payload creates if its C reaches a compiler and runs
(default: OUT_DIR/INJECTED); a test checks that it never exists."""

import os
import random
import struct
import sys

# --- Encoding (WebAssembly core spec, binary format) -------------------------------------

MAGIC = b"\0asm" + struct.pack("<I", 1)
I32, I64, FUNCREF = 0x7F, 0x7E, 0x70
SEC_CUSTOM, SEC_TYPE, SEC_IMPORT, SEC_FUNC, SEC_TABLE, SEC_MEMORY = 0, 1, 2, 3, 4, 5
SEC_EXPORT, SEC_ELEM, SEC_CODE, SEC_DATA = 7, 9, 10, 11
KIND_FUNC = 0
OP_BLOCK, OP_END, OP_I32_CONST, OP_LOCAL_GET, OP_LOCAL_SET, OP_I32_ADD = 0x02, 0x0B, 0x41, 0x20, 0x21, 0x6A
OP_I32_LOAD8_U, OP_MEMORY_GROW, OP_DROP, OP_REF_NULL, OP_TABLE_PREFIX = 0x2D, 0x40, 0x1A, 0xD0, 0xFC
BLOCK_EMPTY = 0x40


def uleb(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def sleb(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if (n == 0 and not b & 0x40) or (n == -1 and b & 0x40):
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)


def vec(items):
    """A vector: its length, then the items (already encoded), joined."""
    items = list(items)
    return uleb(len(items)) + b"".join(items)


def name(raw):
    """A name: a byte length, then the bytes as given (str is encoded as UTF-8)."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    return uleb(len(raw)) + raw


def section(sec_id, payload):
    return bytes([sec_id]) + uleb(len(payload)) + payload


def functype(params, results):
    return b"\x60" + vec(bytes([t]) for t in params) + vec(bytes([t]) for t in results)


def limits(initial, maximum=None):
    if maximum is None:
        return b"\x00" + uleb(initial)
    return b"\x01" + uleb(initial) + uleb(maximum)


def export(export_name, kind, index):
    return name(export_name) + bytes([kind]) + uleb(index)


def body(code, local_groups=()):
    """A function body: local declarations [(count, type)], then the code (ending in end)."""
    payload = vec(uleb(n) + bytes([t]) for n, t in local_groups) + code + bytes([OP_END])
    return uleb(len(payload)) + payload


def i32_const(v):
    return bytes([OP_I32_CONST]) + sleb(v)


def module(types=(), imports=(), funcs=(), tables=(), memories=(), exports=(), elems=(),
           codes=(), datas=(), customs=()):
    """A module from its sections' items (each already encoded); empty sections are left out."""
    out = bytearray(MAGIC)
    for custom_name, custom_payload in customs:
        out += section(SEC_CUSTOM, name(custom_name) + custom_payload)
    for sec_id, items in ((SEC_TYPE, types), (SEC_IMPORT, imports), (SEC_FUNC, funcs),
                          (SEC_TABLE, tables), (SEC_MEMORY, memories), (SEC_EXPORT, exports),
                          (SEC_ELEM, elems), (SEC_CODE, codes), (SEC_DATA, datas)):
        items = list(items)
        if items:
            out += section(sec_id, vec(items))
    return bytes(out)


def const_func_module(value=7, extra_exports=(), **sections):
    """One function () -> i32 returning `value`, exported as "f", plus the extras."""
    return module(types=[functype([], [I32])], funcs=[uleb(0)],
                  exports=[export("f", KIND_FUNC, 0)] + list(extra_exports),
                  codes=[body(i32_const(value))], **sections)


# --- The cases -----------------------------------------------------------------------------

class Case:
    """One hostile module and what a correct node does with it.

    expect: "value" (the call must return `value`), "error" (one clear error line), or
    "either" (`value` or one clear error: a limit may refuse what the spec allows)."""

    def __init__(self, name, about, data, expect, value=None, func="f", args=()):
        self.name = name
        self.about = about
        self.data = data
        self.expect = expect
        self.value = value
        self.func = func
        self.args = list(args)


def nesting(depth):
    code = bytes([OP_BLOCK, BLOCK_EMPTY]) * depth + bytes([OP_END]) * depth + i32_const(7)
    return module(types=[functype([], [I32])], funcs=[uleb(0)],
                  exports=[export("f", KIND_FUNC, 0)], codes=[body(code)])


def many_functions(count):
    funcs = [uleb(0)] * count
    codes = [body(i32_const(7))] * count
    return module(types=[functype([], [I32])], funcs=funcs,
                  exports=[export("f", KIND_FUNC, count - 1)], codes=codes)


def many_locals(count):
    """One function with `count` i32 locals, each set to its index, then summed."""
    code = bytearray()
    for i in range(count):
        code += i32_const(i) + bytes([OP_LOCAL_SET]) + uleb(i)
    code += i32_const(0)
    for i in range(count):
        code += bytes([OP_LOCAL_GET]) + uleb(i) + bytes([OP_I32_ADD])
    return module(types=[functype([], [I32])], funcs=[uleb(0)],
                  exports=[export("f", KIND_FUNC, 0)],
                  codes=[body(bytes(code), [(1, I32)] * count)])


def declared_locals(count):
    """One function whose single local declaration claims `count` locals."""
    return module(types=[functype([], [I32])], funcs=[uleb(0)],
                  exports=[export("f", KIND_FUNC, 0)],
                  codes=[body(i32_const(7), [(count, I32)])])


def injected_marker_payload(marker):
    """C that creates `marker` when the shared object is loaded, if a compiler ever sees it:
    one line (so the name still reads as one comment line wherever it is copied) of x86-64
    assembly, an .init_array entry calling open(marker, O_CREAT | O_WRONLY, 0600). Numeric
    labels may repeat, so it still assembles if the name is copied more than once."""
    lines = [".pushsection .text", "1: lea 2f(%rip), %rdi", "mov $65, %esi", "mov $384, %edx",
             "mov $2, %eax", "syscall", "ret", '2: .asciz \\"' + marker + '\\"', ".popsection",
             '.pushsection .init_array,\\"aw\\"', ".quad 1b", ".popsection"]
    return 'x */ __asm__("' + "\\n".join(lines) + '"); /*'


def every_code_point():
    """Every Unicode scalar value (no surrogates: names must be valid UTF-8), as UTF-8."""
    return "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)


def hostile_names_module(names):
    """Export "f" (returns 7) and the same function under each hostile name."""
    return const_func_module(7, [export(n, KIND_FUNC, 0) for n in names])


def invalid_utf8_export(raw):
    return const_func_module(7, [export(raw, KIND_FUNC, 0)])


def valid_reference():
    """A valid module with every section the truncation cases cut through."""
    return module(types=[functype([], [I32])], funcs=[uleb(0)], memories=[limits(1)],
                  exports=[export("f", KIND_FUNC, 0)],
                  codes=[body(i32_const(1) + bytes([OP_I32_LOAD8_U, 0, 0]))],
                  datas=[b"\x00" + i32_const(1) + bytes([OP_END]) + name(b"\x2a" * 64)])


def cases(marker):
    out = []

    def add(*args, **kw):
        out.append(Case(*args, **kw))

    # Parsing: the node's stack and memory.
    add("nest_1m", "1,000,000 nested blocks (3 MB)", nesting(1_000_000), "either", 7)
    add("many_functions_300k", "300,000 tiny functions", many_functions(300_000), "either", 7)
    # Compiling: one function the C compiler chokes on; a local count no engine can hold.
    add("locals_20k", "one function with 20,000 locals, set and summed",
        many_locals(20_000), "either", sum(range(20_000)))
    add("locals_declared_max", "one function declaring 2^32-1 locals",
        declared_locals(2**32 - 1), "error")
    # Names: nothing of a name may reach native code; the calls still return the right value.
    add("names_inject_marker", "an export name carrying C that creates the marker file",
        hostile_names_module([injected_marker_payload(marker)]), "value", 7)
    add("names_inject_error", "export names closing the comment: #error, __asm__, trigraphs",
        hostile_names_module(["*/\n#error injected\n/*", 'x */ __asm__("ud2") ; /*',
                              "??/\n??/", "??=error injected ??/", "\\", "\"", "'", "\n\r\t",
                              "/* */ */ /*", "\\\n#error injected"]), "value", 7)
    add("names_every_byte", "a name of every byte 0..127 (each alone is UTF-8) and 128..255 as "
        "two-byte code points", hostile_names_module([bytes(range(128)),
                                                      "".join(chr(c) for c in range(128, 256))]),
        "value", 7)
    # A name may hold 100,000 bytes (the JS API limit the pre-pass enforces): 25,000 code points
    # of at most 4 bytes each per export, 45 exports in all.
    points = every_code_point()
    add("names_every_code_point", "exports named by every Unicode scalar value (4.3 MB)",
        hostile_names_module([points[i:i + 25_000] for i in range(0, len(points), 25_000)]),
        "value", 7)
    add("names_over_limit", "one export named by every Unicode scalar value (4.3 MB in one name)",
        hostile_names_module([points]), "error")
    add("names_100k", "export and import-free names of 100 KB each",
        hostile_names_module(["N" * 100_000, "*/" * 50_000]), "value", 7)
    add("names_import_control", "an import named by a newline and terminal escapes (unlinkable)",
        module(types=[functype([], [I32])],
               imports=[name("env") + name("x\n\x1b[2J\x1b[1;1Hforged line\r") + bytes([KIND_FUNC, 0])],
               exports=[export("f", KIND_FUNC, 0)]), "error")
    # Invalid UTF-8 names: malformed.
    add("utf8_invalid_byte", "export named 0xFF 0xFE", invalid_utf8_export(b"\xff\xfe"), "error")
    add("utf8_overlong", "export named by an overlong NUL (0xC0 0x80)",
        invalid_utf8_export(b"\xc0\x80"), "error")
    add("utf8_surrogate", "export named by an encoded surrogate (0xED 0xA0 0x80)",
        invalid_utf8_export(b"\xed\xa0\x80"), "error")
    add("utf8_truncated", "export named by a cut 4-byte sequence", invalid_utf8_export(b"a\xf0\x9f"),
        "error")
    add("utf8_import_module", "an import whose module name is 0x80",
        module(types=[functype([], [])], imports=[name(b"\x80") + name("g") + bytes([KIND_FUNC, 0])]),
        "error")
    # Data and element segments.
    mib = 1 << 20
    add("data_1mib", "an active data segment of 1 MiB; f reads its last byte",
        module(types=[functype([], [I32])], funcs=[uleb(0)], memories=[limits(17)],
               exports=[export("f", KIND_FUNC, 0)],
               codes=[body(i32_const(mib - 1) + bytes([OP_I32_LOAD8_U, 0, 0]))],
               datas=[b"\x00" + i32_const(0) + bytes([OP_END]) + name(b"\x05" * mib)]),
        "value", 5)
    add("data_count_lies", "a data segment claiming 2^32-1 bytes, holding 4",
        const_func_module(7, memories=[limits(1)],
                          datas=[b"\x00" + i32_const(0) + bytes([OP_END]) + uleb(2**32 - 1) + b"abcd"]),
        "error")
    add("data_out_of_bounds", "an active data segment at 0xFFFFFFF0, 64 bytes long",
        const_func_module(7, memories=[limits(1)],
                          datas=[b"\x00" + i32_const(-16) + bytes([OP_END]) + name(b"z" * 64)]),
        "error")
    add("data_100k_segments", "100,000 one-byte data segments",
        const_func_module(7, memories=[limits(2)],
                          datas=[b"\x00" + i32_const(i) + bytes([OP_END]) + name(b"d")
                                 for i in range(100_000)]), "either", 7)
    add("elem_100k", "a table of 100,000 funcref filled by one element segment",
        const_func_module(7, tables=[bytes([FUNCREF]) + limits(100_000)],
                          elems=[b"\x00" + i32_const(0) + bytes([OP_END]) +
                                 vec([uleb(0)] * 100_000)]), "either", 7)
    add("elem_count_lies", "an element segment claiming 2^32-1 entries, holding 2",
        const_func_module(7, tables=[bytes([FUNCREF]) + limits(2)],
                          elems=[b"\x00" + i32_const(0) + bytes([OP_END]) + uleb(2**32 - 1) +
                                 uleb(0) + uleb(0)]), "error")
    # Memories and tables at their maxima.
    add("memory_max_grow", "memory max 65536 pages; f grows it by 65535 pages (-1 or a limit)",
        module(types=[functype([], [I32])], funcs=[uleb(0)], memories=[limits(1, 65536)],
               exports=[export("f", KIND_FUNC, 0)],
               codes=[body(i32_const(65535) + bytes([OP_MEMORY_GROW, 0]))]), "either", -1)
    add("memory_initial_max", "memory of 65536 initial pages (4 GiB)",
        const_func_module(7, memories=[limits(65536)]), "error")
    add("memory_over_max", "memory of 65537 initial pages (invalid)",
        const_func_module(7, memories=[limits(65537)]), "error")
    add("table_max_grow", "table max 2^32-1; f grows it by 2^31-1 null entries (-1 or a limit)",
        module(types=[functype([], [I32])], funcs=[uleb(0)],
               tables=[bytes([FUNCREF]) + limits(1, 2**32 - 1)],
               exports=[export("f", KIND_FUNC, 0)],
               codes=[body(bytes([OP_REF_NULL, FUNCREF]) + i32_const(2**31 - 1) +
                           bytes([OP_TABLE_PREFIX]) + uleb(15) + uleb(0))]), "either", -1)
    add("table_initial_huge", "a table of 2^32-1 initial entries (7 or a limit)",
        const_func_module(7, tables=[bytes([FUNCREF]) + limits(2**32 - 1)]), "either", 7)
    # Imports: 100,000 the node cannot satisfy.
    add("imports_100k", "100,000 function imports",
        module(types=[functype([], [I32])],
               imports=[name("env") + name(f"f{i}") + bytes([KIND_FUNC, 0]) for i in range(100_000)],
               exports=[export("f", KIND_FUNC, 0)]), "error")
    # Found by velum-fuzz-module (2026-12-04): a global's init expression with a stray block
    # makes wabt's IR reader fail an assert() (intrusive_list::back on an empty list): abort.
    add("global_init_block", "a 106-byte module velum-fuzz-module found: wabt asserts",
        bytes.fromhex(
        "0061736d010000000109026000017f60017f00030403000001060c027f00412a0b7f01410c020b07"
        "2d0504676c6f620300036765740000086575745f676c6f620301076765745f6d7574000107736574"
        "5f6d757400020a1203040023000b040023010b0600200024010b"), "either", 42)
    # Truncated and garbage sections.
    ref = valid_reference()
    add("valid_reference", "the module the truncation cases cut (reads 42)", ref, "value", 42)
    for cut in (9, len(ref) // 2, len(ref) - 1):
        add(f"truncated_at_{cut}", f"the reference module cut to {cut} bytes", ref[:cut], "error")
    add("section_size_lies", "a type section claiming 2^32-1 bytes",
        MAGIC + bytes([SEC_TYPE]) + uleb(2**32 - 1) + b"\x01\x60\x00\x00", "error")
    add("section_unknown_id", "a section of id 0x7F", MAGIC + section(0x7F, b"\x00" * 16), "error")
    add("section_out_of_order", "a code section before the type section",
        MAGIC + section(SEC_CODE, vec([body(i32_const(7))])) + section(SEC_TYPE, vec([functype([], [I32])])),
        "error")
    add("custom_name_lies", "a custom section whose name claims 2^32-1 bytes",
        MAGIC + section(SEC_CUSTOM, uleb(2**32 - 1) + b"name"), "error")
    add("bad_version", "the magic with version 2", b"\0asm" + struct.pack("<I", 2), "error")
    add("empty_file", "zero bytes", b"", "error")
    add("zeros_64k", "64 KiB of zero bytes", bytes(65536), "error")
    rng = random.Random(9)  # fixed: the case is the same bytes on every run
    add("garbage_after_magic", "the magic and version, then 64 KiB of (seeded) random bytes",
        MAGIC + bytes(rng.getrandbits(8) for _ in range(65536)), "error")
    return out


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    marker = sys.argv[2] if len(sys.argv) == 3 else os.path.join(os.path.abspath(out_dir), "INJECTED")
    for c in cases(marker):
        with open(os.path.join(out_dir, c.name + ".wasm"), "wb") as f:
            f.write(c.data)
        print(f"{c.name:24} {len(c.data):>10} bytes  {c.about}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Checks periscope's text-paste layouts (src/input/layout/) against X11's own definitions.

    python3 tests/layouts/check.py            # check the committed vectors, list the gaps
    python3 tests/layouts/check.py --write    # regenerate tests/layouts/<layout>.txt
    python3 tests/layouts/check.py --draft de # print Rust key rows for a layout (to add one)

Needs python3 and Debian's xkb-data, libxkbcommon0 and libx11-data (the Compose table);
`apt-get install -y xkb-data libxkbcommon-tools` brings the first two, libx11-data is
usually there already. No Python packages: libxkbcommon is called through ctypes.

WHAT IS COMPARED

For each layout the script compiles the X keymap (rules evdev, the layout's default variant)
with libxkbcommon and presses keys the way a Linux target does when our HID reports arrive:
a HID usage becomes an evdev keycode through the kernel's hid_keyboard[] table
(drivers/hid/hid-input.c), Left Shift is KEY_LEFTSHIFT, AltGr is KEY_RIGHTALT. Dead keys go
through libxkbcommon's compose state with the en_US.UTF-8 Compose table, as GTK, Qt and
Xlib do.

From that it derives, with fixed rules, every character the layout types and its strokes:

1. Direct: every key of the typing block at every level (plain, Shift, AltGr,
   Shift+AltGr); for ANSI layouts (us) without the ISO key left of Z. Where several keys
   type a character, the lowest level wins, then the lowest usage, except for the PREFER
   entries below.
2. Dead keys (the first stroke that gives each dead keysym, in the same order): the dead
   key then a directly typed character, for every result that is a Latin-1 letter
   (U+00C0..U+00FF) and not typed otherwise; and the accent on its own, as the dead key
   then Space or, where that gives something else, the dead key twice.

The result is written to tests/layouts/<layout>.txt, which `cargo test` compares with the
Rust tables both ways (every line typed exactly so, nothing else typeable). The check mode
first checks that src/input/keymap.rs, the usage -> evdev table and xkb agree on which key
is which (KeyboardEvent.code and xkb both name keys by their place: Digit1 is <AE01>). It
then regenerates each file, diffs it against the committed one, and replays every
committed line through xkbcommon and confirms it types exactly that character. It lists what X11 can type
that the tables leave out (compositions beyond Latin-1 letters).
"""

import argparse
import ctypes
import ctypes.util
import pathlib
import re
import sys
import unicodedata

HERE = pathlib.Path(__file__).resolve().parent

# Our layout name -> (xkb layout, variant). "" is the default variant ("basic").
LAYOUTS = {"us": ("us", ""), "uk": ("gb", ""), "de": ("de", ""), "fr": ("fr", "")}

SHIFT = 0x02  # Left Shift bit of the boot report (src/input/layout/mod.rs SHIFT)
ALTGR = 0x40  # Right Alt bit (mod.rs ALTGR)
LEVELS = [0, SHIFT, ALTGR, SHIFT | ALTGR]
SPACE = 0x2C

# HID usage (page 0x07) -> Linux evdev keycode, from the kernel's hid_keyboard[] in
# drivers/hid/hid-input.c, for the typing block. 0x31 and 0x32 (ISO #~) are both
# KEY_BACKSLASH there; the tables use 0x31, as browsers name that key "Backslash".
HID_TO_EVDEV = {
    **{0x04 + i: code for i, code in enumerate(
        [30, 48, 46, 32, 18, 33, 34, 35, 23, 36, 37, 38, 50,
         49, 24, 25, 16, 19, 31, 20, 22, 47, 17, 45, 21, 44])},  # a..z
    **{0x1E + i: 2 + i for i in range(10)},  # 1..9, 0 -> KEY_1 (2) .. KEY_0 (11)
    0x2C: 57,  # Space
    0x2D: 12, 0x2E: 13, 0x2F: 26, 0x30: 27, 0x31: 43, 0x33: 39, 0x34: 40,
    0x35: 41, 0x36: 51, 0x37: 52, 0x38: 53,
    0x64: 86,  # KEY_102ND, the ISO key left of Z
}
# W3C KeyboardEvent.code -> xkb key name, both named after the key's place on a US board.
# check_key_names() goes code -> usage (src/input/keymap.rs) -> evdev -> xkb name with it,
# which checks HID_TO_EVDEV and keymap.rs against each other.
W3C_TO_XKB = {
    **{f"Key{c}": n for c, n in zip(
        "QWERTYUIOPASDFGHJKLZXCVBNM",
        [f"AD{i:02}" for i in range(1, 11)] + [f"AC{i:02}" for i in range(1, 10)]
        + [f"AB{i:02}" for i in range(1, 8)])},
    **{f"Digit{d}": f"AE{d if d else 10:02}" for d in range(10)},
    "Minus": "AE11", "Equal": "AE12", "BracketLeft": "AD11", "BracketRight": "AD12",
    "Backslash": "BKSL", "Semicolon": "AC10", "Quote": "AC11", "Backquote": "TLDE",
    "Comma": "AB08", "Period": "AB09", "Slash": "AB10", "Space": "SPCE",
    "IntlBackslash": "LSGT",
}

# ANSI layouts: no key left of Z. X11's pc105 model puts "<" ">" there even for us, where
# Windows types "\" "|", and a US keyboard has no such key at all.
ANSI = {"us"}
KEY_LEFTSHIFT = 42
KEY_RIGHTALT = 100
EVDEV_OFFSET = 8  # xkb keycode = evdev keycode + 8

# Characters placed on purpose where the lowest-level rule would not put them, with why.
PREFER = {
    "fr": {
        # X11 also has "@" on AltGr+Q (from "latin"), where Windows' French layout has
        # nothing; AltGr+à is "@" on both (the key cap).
        "@": [(0x27, ALTGR)],
        # X11 also has "~" on Shift+², where Windows types nothing; AltGr+é types "~" on X11
        # and is Windows' dead tilde, right there more often than not (docs/HID.md).
        "~": [(0x1F, ALTGR)],
    },
}


class Xkb:
    """The few libxkbcommon calls the check needs."""

    class RuleNames(ctypes.Structure):
        _fields_ = [(n, ctypes.c_char_p) for n in ("rules", "model", "layout", "variant", "options")]

    def __init__(self):
        path = ctypes.util.find_library("xkbcommon") or "libxkbcommon.so.0"
        lib = ctypes.CDLL(path)
        p, u32, i32, sz = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_size_t
        sigs = {
            "xkb_context_new": (p, [i32]),
            "xkb_keymap_new_from_names": (p, [p, ctypes.POINTER(Xkb.RuleNames), i32]),
            "xkb_state_new": (p, [p]),
            "xkb_state_unref": (None, [p]),
            "xkb_state_update_key": (i32, [p, u32, i32]),
            "xkb_state_key_get_one_sym": (u32, [p, u32]),
            "xkb_keysym_to_utf32": (u32, [u32]),
            "xkb_keymap_key_get_name": (ctypes.c_char_p, [p, u32]),
            "xkb_keysym_get_name": (i32, [u32, ctypes.c_char_p, sz]),
            "xkb_compose_table_new_from_locale": (p, [p, ctypes.c_char_p, i32]),
            "xkb_compose_state_new": (p, [p, i32]),
            "xkb_compose_state_reset": (None, [p]),
            "xkb_compose_state_feed": (i32, [p, u32]),
            "xkb_compose_state_get_status": (i32, [p]),
            "xkb_compose_state_get_utf8": (i32, [p, ctypes.c_char_p, sz]),
        }
        for name, (res, args) in sigs.items():
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = res, args
        self.lib = lib
        self.ctx = lib.xkb_context_new(0)
        table = lib.xkb_compose_table_new_from_locale(self.ctx, b"en_US.UTF-8", 0)
        if not self.ctx or not table:
            sys.exit("check.py: no xkb context or en_US.UTF-8 Compose table (libx11-data?)")
        self.compose = lib.xkb_compose_state_new(table, 0)

    def keymap(self, layout, variant):
        names = Xkb.RuleNames(b"evdev", b"pc105", layout.encode(), variant.encode(), b"")
        km = self.lib.xkb_keymap_new_from_names(self.ctx, ctypes.byref(names), 0)
        if not km:
            sys.exit(f"check.py: xkb cannot compile layout {layout!r}")
        return km

    def sym(self, keymap, usage, mods):
        """The keysym a usage gives with modifier bits held, on a fresh keyboard."""
        st = self.lib.xkb_state_new(keymap)
        for bit, key in ((SHIFT, KEY_LEFTSHIFT), (ALTGR, KEY_RIGHTALT)):
            if mods & bit:
                self.lib.xkb_state_update_key(st, key + EVDEV_OFFSET, 1)
        sym = self.lib.xkb_state_key_get_one_sym(st, HID_TO_EVDEV[usage] + EVDEV_OFFSET)
        self.lib.xkb_state_unref(st)
        return sym

    def name(self, sym):
        buf = ctypes.create_string_buffer(64)
        self.lib.xkb_keysym_get_name(sym, buf, 64)
        return buf.value.decode()

    def char(self, sym):
        cp = self.lib.xkb_keysym_to_utf32(sym)
        return chr(cp) if cp else None

    def type_syms(self, syms):
        """Text a sequence of keysyms types through the compose state (None if incomplete)."""
        lib, st = self.lib, self.compose
        lib.xkb_compose_state_reset(st)
        out = ""
        for sym in syms:
            lib.xkb_compose_state_feed(st, sym)
            status = lib.xkb_compose_state_get_status(st)
            if status == 2:  # COMPOSED
                buf = ctypes.create_string_buffer(64)
                lib.xkb_compose_state_get_utf8(st, buf, 64)
                out += buf.value.decode()
                lib.xkb_compose_state_reset(st)
            elif status == 0:  # NOTHING: the keysym is not part of a sequence
                ch = self.char(sym)
                out += ch or ""
            elif status == 3:  # CANCELLED: the sequence was dropped
                lib.xkb_compose_state_reset(st)
        return None if lib.xkb_compose_state_get_status(st) == 1 else out


def typing_usages(name):
    return sorted(u for u in HID_TO_EVDEV if not (u == 0x64 and name in ANSI))


def printable(ch):
    return ch is not None and ch not in " \t\r\n" and unicodedata.category(ch)[0] != "C"


def strokes_order(name):
    """Every (usage, mods) in the order the tables search: level first, then usage."""
    return [(u, m) for m in LEVELS for u in typing_usages(name)]


def check_key_names(xkb):
    """Problems found going code -> usage (keymap.rs) -> evdev keycode -> xkb key name."""
    text = (HERE.parent.parent / "src/input/keymap.rs").read_text(encoding="utf-8")
    usages = dict(re.findall(r'\("(\w+)", 0x([0-9A-Fa-f]{2})\)', text))
    keymap = xkb.keymap("us", "")
    bad = []
    for code, want in W3C_TO_XKB.items():
        usage = int(usages.get(code, "0"), 16)
        evdev = HID_TO_EVDEV.get(usage)
        raw = xkb.lib.xkb_keymap_key_get_name(keymap, evdev + EVDEV_OFFSET) if evdev else None
        got = raw.decode() if raw else None
        if got != want:
            bad.append(f"{code}: usage 0x{usage:02X} is xkb <{got}>, want <{want}>")
    return bad


def derive(xkb, name):
    """(table, gaps, dead keys): table maps char -> strokes, gaps char -> how X11 types it,
    dead keys list each dead key's stroke and what the table types through it."""
    keymap = xkb.keymap(*LAYOUTS[name])
    table, dead = {}, {}
    for usage, mods in strokes_order(name):
        sym = xkb.sym(keymap, usage, mods)
        sname = xkb.name(sym)
        if sname.startswith("dead_"):
            dead.setdefault(sname, (sym, (usage, mods)))
            continue
        ch = xkb.char(sym)
        if usage != SPACE or mods:
            if printable(ch) and ch not in table:
                table[ch] = [(usage, mods)]
    for ch, strokes in PREFER.get(name, {}).items():
        got = xkb.type_syms([xkb.sym(keymap, u, m) for u, m in strokes])
        if got != ch:
            sys.exit(f"check.py: PREFER {name} {ch!r} types {got!r}")
        table[ch] = strokes
    direct = dict(table)
    gaps, dead_rows = {}, []
    space = xkb.sym(keymap, SPACE, 0)
    for dname, (dsym, dstroke) in dead.items():
        row = {"name": dname, "key": dstroke, "alone": None, "letters": []}
        dead_rows.append(row)
        for fstroke, fsym in (((SPACE, 0), space), (dstroke, dsym)):
            got = xkb.type_syms([dsym, fsym])
            if not got or len(got) != 1 or got in table:
                continue
            if unicodedata.category(got)[0] in "MC":  # combining marks, controls
                gaps.setdefault(got, f"{dname} {xkb.name(fsym)}")
                continue
            table[got] = [dstroke, fstroke]
            row["alone"] = (got, fstroke)
        for base, bstrokes in direct.items():
            bsym = xkb.sym(keymap, *bstrokes[0])
            got = xkb.type_syms([dsym, bsym])
            if not got or len(got) != 1 or got in table:
                continue
            if 0xC0 <= ord(got) <= 0xFF and unicodedata.category(got)[0] == "L":
                table[got] = [dstroke, bstrokes[0]]
                row["letters"].append((base, got))
            else:
                gaps.setdefault(got, f"{dname} {base}")
    return table, gaps, dead_rows


def fmt_stroke(usage, mods):
    suffix = {0: "", SHIFT: "+S", ALTGR: "+A", SHIFT | ALTGR: "+SA"}[mods]
    return f"{usage:02X}{suffix}"


def parse_stroke(text):
    usage, _, mods = text.partition("+")
    bits = {"": 0, "S": SHIFT, "A": ALTGR, "SA": SHIFT | ALTGR}[mods]
    return int(usage, 16), bits


def render(name, table):
    xkb_layout, variant = LAYOUTS[name]
    lines = [
        f"# periscope text paste, layout {name}: every character it types, and how.",
        f"# From xkb-data (xkb layout {xkb_layout!r}, variant {variant or 'basic'!r}) and the",
        "# en_US.UTF-8 Compose table, by tests/layouts/check.py --write. Do not edit by hand:",
        "# cargo test compares src/input/layout/ with this file, check.py compares it with X11.",
        "# code point, strokes (HID usage hex; +S Shift, +A AltGr, +SA both), # the character",
    ]
    for ch in sorted(table):
        strokes = " ".join(fmt_stroke(u, m) for u, m in table[ch])
        lines.append(f"U+{ord(ch):04X} {strokes} # {ch}")
    return "\n".join(lines) + "\n"


def read_vectors(path):
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        body = line.split("#", 1)[0].split()
        if not body:
            continue
        out[chr(int(body[0][2:], 16))] = [parse_stroke(s) for s in body[1:]]
    return out


def replay(xkb, name, vectors):
    """Types every committed line on the X keymap; returns the lines that come out wrong."""
    keymap = xkb.keymap(*LAYOUTS[name])
    bad = []
    for ch, strokes in vectors.items():
        got = xkb.type_syms([xkb.sym(keymap, u, m) for u, m in strokes])
        if got != ch:
            bad.append(f"U+{ord(ch):04X} {ch!r}: strokes type {got!r}")
    return bad


def draft(xkb, name):
    """Rust rows `(usage, ['plain', 'shift', 'altgr', 'shift+altgr'])` for a layout, then
    its dead keys."""
    keymap = xkb.keymap(*LAYOUTS[name])
    _, _, dead_rows = derive(xkb, name)
    for usage in typing_usages(name):
        if usage == SPACE:
            continue
        cells, notes = [], []
        for mods in LEVELS:
            sym = xkb.sym(keymap, usage, mods)
            ch = xkb.char(sym)
            if xkb.name(sym).startswith("dead_"):
                notes.append(xkb.name(sym))
            cells.append(repr_rust(ch if printable(ch) else "\0"))
        note = f" // {', '.join(notes)}" if notes else ""
        print(f"    (0x{usage:02X}, [{', '.join(cells)}]),{note}")
    for row in dead_rows:
        if not row["alone"] and not row["letters"]:
            continue
        usage, mods = row["key"]
        alone = "None"
        if row["alone"]:
            ch, (fu, fm) = row["alone"]
            alone = f"Some(({repr_rust(ch)}, {rust_stroke(fu, fm)}))"
        letters = sorted(row["letters"], key=lambda bc: (bc[0].isupper(), bc[0]))
        pairs = ", ".join(f"({repr_rust(b)}, {repr_rust(c)})" for b, c in letters)
        print(f"    // {row['name']}")
        print(f"    DeadKey {{ key: {rust_stroke(usage, mods)}, alone: {alone}, letters: &[{pairs}] }},")


def rust_stroke(usage, mods):
    ctor = {0: "plain", SHIFT: "shift", ALTGR: "altgr", SHIFT | ALTGR: "shift_altgr"}[mods]
    return f"Stroke::{ctor}(0x{usage:02X})"


def repr_rust(ch):
    if ch == "\0":
        return "NO"
    if ch in "'\\":
        return f"'\\{ch}'"
    if ch.isprintable() and not unicodedata.category(ch).startswith("Z"):
        return f"'{ch}'"
    return f"'\\u{{{ord(ch):x}}}'"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", action="store_true", help="regenerate the vector files")
    ap.add_argument("--draft", metavar="LAYOUT", help="print Rust key rows for a layout")
    args = ap.parse_args()
    xkb = Xkb()
    if args.draft:
        draft(xkb, args.draft)
        return 0
    failed = False
    names = check_key_names(xkb)
    if not args.write:
        failed = bool(names)
        print(f"key names: {'ok' if not names else 'FAILED'}: {len(W3C_TO_XKB)} codes")
        for line in names:
            print(f"  {line}")
    for name in LAYOUTS:
        table, gaps, _ = derive(xkb, name)
        path = HERE / f"{name}.txt"
        text = render(name, table)
        if args.write:
            path.write_text(text, encoding="utf-8")
            print(f"{name}: wrote {path.relative_to(HERE.parent.parent)} ({len(table)} characters)")
            continue
        committed = read_vectors(path) if path.exists() else {}
        diff = [
            f"U+{ord(c):04X} {c!r}: committed {committed.get(c)}, xkb {table.get(c)}"
            for c in sorted(set(table) | set(committed))
            if table.get(c) != committed.get(c)
        ]
        bad = replay(xkb, name, committed)
        status = "ok" if not diff and not bad else "FAILED"
        failed |= status != "ok"
        print(f"{name}: {status}: {len(committed)} characters, each typed as committed")
        for line in diff:
            print(f"  differs from xkb: {line}")
        for line in bad:
            print(f"  wrong: {line}")
        if gaps:
            listed = "".join(sorted(gaps))
            print(f"  left out ({len(gaps)}; X11 types them through a dead key): {listed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

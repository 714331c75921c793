"""The few pieces of Bitcoin Script the portal writes and reads: minimal pushes and ASM."""

from __future__ import annotations

from collections.abc import Iterator

OP_0 = 0x00
OP_PUSHDATA1 = 0x4C
OP_PUSHDATA2 = 0x4D
OP_PUSHDATA4 = 0x4E
OP_1 = 0x51
OP_16 = 0x60
OP_IF = 0x63
OP_ELSE = 0x67
OP_ENDIF = 0x68
OP_DROP = 0x75
OP_DUP = 0x76
OP_EQUAL = 0x87
OP_EQUALVERIFY = 0x88
OP_HASH160 = 0xA9
OP_CHECKSIG = 0xAC
OP_CHECKMULTISIG = 0xAE
OP_CHECKSEQUENCEVERIFY = 0xB2

_NAMES = {
    OP_0: "OP_0",
    OP_PUSHDATA1: "OP_PUSHDATA1",
    OP_PUSHDATA2: "OP_PUSHDATA2",
    OP_PUSHDATA4: "OP_PUSHDATA4",
    **{OP_1 + n - 1: f"OP_{n}" for n in range(1, 17)},
    OP_IF: "OP_IF",
    OP_ELSE: "OP_ELSE",
    OP_ENDIF: "OP_ENDIF",
    OP_DROP: "OP_DROP",
    OP_DUP: "OP_DUP",
    OP_EQUAL: "OP_EQUAL",
    OP_EQUALVERIFY: "OP_EQUALVERIFY",
    OP_HASH160: "OP_HASH160",
    OP_CHECKSIG: "OP_CHECKSIG",
    OP_CHECKMULTISIG: "OP_CHECKMULTISIG",
    OP_CHECKSEQUENCEVERIFY: "OP_CHECKSEQUENCEVERIFY",
}
MAX_DATA_PUSH = 75  # the longest push with a one-byte opcode; keys and hashes fit


class ScriptError(ValueError):
    """A script could not be built or read."""


def push_data(data: bytes) -> bytes:
    if len(data) > MAX_DATA_PUSH:
        raise ScriptError(f"cannot push {len(data)} bytes with a one-byte push")
    return bytes([len(data)]) + data


def push_int(number: int) -> bytes:
    """Minimal push of a non-negative number, as consensus MINIMALDATA wants it."""
    if number < 0:
        raise ScriptError("only non-negative numbers are pushed")
    if number == 0:
        return bytes([OP_0])
    if number <= 16:
        return bytes([OP_1 + number - 1])
    return push_data(script_num(number))


def script_num(number: int) -> bytes:
    """CScriptNum encoding of a non-negative number: little-endian, top bit is the sign."""
    data = number.to_bytes((number.bit_length() + 7) // 8, "little")
    # A set top bit would read as negative, so such numbers get an extra zero byte.
    return data + b"\0" if data and data[-1] & 0x80 else data


def read_script_num(data: bytes) -> int:
    if not data:
        return 0
    magnitude = int.from_bytes(data, "little") & ~(0x80 << 8 * (len(data) - 1))
    return -magnitude if data[-1] & 0x80 else magnitude


def iter_ops(script: bytes) -> Iterator[tuple[int, bytes | None]]:
    """(opcode, pushed data or None) for each operation; ScriptError if a push is cut off."""
    position = 0
    while position < len(script):
        opcode = script[position]
        position += 1
        size, position = _push_size(script, opcode, position)
        if size is None:
            yield opcode, None
            continue
        data = script[position : position + size]
        if len(data) != size:
            raise ScriptError("the script ends in the middle of a push")
        position += size
        yield opcode, data


def number_of(opcode: int, data: bytes | None) -> int | None:
    """The number an operation pushes (OP_0..OP_16, or data of up to 4 bytes), else None."""
    if OP_1 <= opcode <= OP_16:
        return opcode - OP_1 + 1
    if data is not None and len(data) <= 4:
        return read_script_num(data)
    return None


def asm(script: bytes) -> str:
    """Readable script, like Bitcoin Core's: numbers in decimal, other pushes as <hex>."""
    return " ".join(_asm_op(opcode, data) for opcode, data in iter_ops(script))


def _asm_op(opcode: int, data: bytes | None) -> str:
    if data is None or opcode == OP_0:
        return _NAMES.get(opcode, f"0x{opcode:02x}")
    if len(data) <= 4:
        return str(read_script_num(data))
    return f"<{data.hex()}>"


def _push_size(script: bytes, opcode: int, position: int) -> tuple[int | None, int]:
    """How many bytes the opcode pushes (None if it pushes nothing) and where they start."""
    if opcode <= MAX_DATA_PUSH:
        return opcode, position
    width = {OP_PUSHDATA1: 1, OP_PUSHDATA2: 2, OP_PUSHDATA4: 4}.get(opcode)
    if width is None:
        return None, position
    length = script[position : position + width]
    if len(length) != width:
        raise ScriptError("the script ends in the middle of a push")
    return int.from_bytes(length, "little"), position + width

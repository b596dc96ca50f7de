"""Hand-crafted damage to zip archives, as a broken or hostile build could deliver them: fields of
a central directory header rewritten, or an entry's compressed data broken."""

import io
import struct
import zipfile

# Each kind of damage, and what the handlers' messages say about an entry that has it.
DAMAGE = {
    "encrypted": "is encrypted",
    "unsupported-compression": "uses compression method 99, which cannot be unpacked",
    "bad-crc": "Bad CRC-32",
    "corrupt-data": "has corrupt compressed data",
}


def central_header(data: bytes, name: str) -> int:
    """Offset of `name`'s central directory header."""
    offset = data.find(b"PK\x01\x02")
    while offset >= 0:
        name_length = struct.unpack_from("<H", data, offset + 28)[0]
        if data[offset + 46 : offset + 46 + name_length] == name.encode():
            return offset
        offset = data.find(b"PK\x01\x02", offset + 4)
    raise AssertionError(f"{name} is not in the central directory")


def patch_central(data: bytes, name: str, *, flags: int | None = None, compression: int | None = None, crc: int | None = None, size: int | None = None) -> bytes:
    """Rewrite fields of one central directory header, as a hand-crafted zip would have them."""
    patched = bytearray(data)
    offset = central_header(data, name)
    for value, position, layout in ((flags, 8, "<H"), (compression, 10, "<H"), (crc, 16, "<I"), (size, 24, "<I")):
        if value is not None:
            struct.pack_into(layout, patched, offset + position, value)
    return bytes(patched)


def flags_of(data: bytes, name: str) -> int:
    return int(struct.unpack_from("<H", data, central_header(data, name) + 8)[0])


def damaged(data: bytes, name: str, kind: str) -> bytes:
    """`data` with the entry `name` damaged in one of the DAMAGE ways."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        entry = archive.getinfo(name)
    if kind == "encrypted":
        return patch_central(data, name, flags=entry.flag_bits | 0x1)
    if kind == "unsupported-compression":
        return patch_central(data, name, compression=99)
    if kind == "bad-crc":
        return patch_central(data, name, crc=entry.CRC ^ 0xFFFFFFFF)
    if kind == "corrupt-data":
        assert entry.compress_type == zipfile.ZIP_DEFLATED, f"{name} must be deflated to corrupt its compressed data"
        name_length, extra_length = struct.unpack_from("<HH", data, entry.header_offset + 26)
        patched = bytearray(data)
        # The first byte of the deflate stream: a final block of type 3, which deflate does not have.
        patched[entry.header_offset + 30 + name_length + extra_length] = 0xFF
        return bytes(patched)
    raise ValueError(f"unknown damage {kind!r}")


def deflated(data: bytes) -> bytes:
    """The same entries, each compressed with deflate."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry in source.infolist():
            archive.writestr(entry.filename, source.read(entry))
    return buffer.getvalue()

"""What the emulator reads inside an upload to apply Stripe's content rules: a PDF's page
count and an image's dimensions.

Both readers take whatever bytes a client sent, so they never raise and never trust a length
they read: odd, truncated or hostile input gives None (nothing known, so nothing refused).
The PDF reader is no PDF parser. It finds the indirect objects (`N G obj ... endobj`), also
those packed in compressed object streams (`/Type /ObjStm`, FlateDecode, inflated up to a
bound), keeps the last body of each object number (an incremental update rewrites an object
further on), and counts those whose dictionary says `/Type /Page`. Encrypted object streams
cannot be read and are skipped, so such a file may count fewer pages than it has.
"""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

MAX_PDF_BYTES = 64 * 1_000_000  # read no more of a PDF than this
MAX_INFLATED_BYTES = 64 * 1_000_000  # all object streams of one file, inflated, together

_OBJ = re.compile(rb"(?<![0-9])(\d{1,10})\s+\d{1,5}\s+obj(?![A-Za-z0-9])")
_ENDOBJ = re.compile(rb"endobj(?![A-Za-z0-9])")
_STREAM = re.compile(rb"stream(?:\r\n|\n|\r)")
_PAGE = re.compile(rb"/Type\s*/Page(?![A-Za-z0-9_.#-])")
_OBJSTM = re.compile(rb"/Type\s*/ObjStm(?![A-Za-z0-9])")
_FIRST = re.compile(rb"/First\s+(\d{1,10})")
_FILTER = re.compile(rb"/Filter\s*(\[[^\]]*\]|/[A-Za-z0-9]+)")


def pdf_page_count(path: Path) -> int | None:
    """The number of page objects in the PDF at `path`; None when none could be found."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_PDF_BYTES)
        pages = _count_pages(data)
    except (OSError, ValueError, MemoryError, RecursionError, zlib.error, struct.error):
        return None
    return pages or None


def _count_pages(data: bytes) -> int:
    latest: dict[int, bytes] = {}  # object number -> its dictionary (last one wins)
    budget = [MAX_INFLATED_BYTES]
    for number, body in _objects(data):
        head, stream = _split_stream(body)
        if stream is not None and _OBJSTM.search(head):
            for packed_number, packed in _object_stream(head, stream, budget):
                latest[packed_number] = packed
        latest[number] = head
    return sum(1 for head in latest.values() if _PAGE.search(head))


def _objects(data: bytes) -> list[tuple[int, bytes]]:
    found: list[tuple[int, bytes]] = []
    position = 0
    while True:
        match = _OBJ.search(data, position)
        if match is None:
            return found
        end = _ENDOBJ.search(data, match.end())
        if end is None:  # truncated: the rest is this object's
            found.append((int(match.group(1)), data[match.end() :]))
            return found
        found.append((int(match.group(1)), data[match.end() : end.start()]))
        position = end.end()


def _split_stream(body: bytes) -> tuple[bytes, bytes | None]:
    """An object's dictionary, and its stream's bytes if it has one."""
    match = _STREAM.search(body)
    if match is None:
        return body, None
    stream = body[match.end() :]
    end = stream.rfind(b"endstream")
    return body[: match.start()], stream[:end] if end >= 0 else stream


def _object_stream(head: bytes, stream: bytes, budget: list[int]) -> list[tuple[int, bytes]]:
    """The objects packed in an object stream, when it is only FlateDecode-compressed."""
    filters = _FILTER.search(head)
    if filters is None or filters.group(1).strip(b"[] \r\n\t") != b"/FlateDecode":
        return []
    if b"/DecodeParms" in head or budget[0] <= 0:
        return []  # a predictor: not worth undoing here
    first = _FIRST.search(head)
    if first is None:
        return []
    inflater = zlib.decompressobj()
    try:
        content = inflater.decompress(stream, budget[0])
    except zlib.error:
        return []
    budget[0] -= len(content)
    offset = int(first.group(1))
    if offset > len(content):
        return []
    numbers = content[:offset].split()
    pairs = []
    for index in range(0, len(numbers) - 1, 2):
        if not (numbers[index].isdigit() and numbers[index + 1].isdigit()):
            return []
        pairs.append((int(numbers[index]), offset + int(numbers[index + 1])))
    packed = []
    for index, (number, start) in enumerate(pairs):
        end = pairs[index + 1][1] if index + 1 < len(pairs) else len(content)
        end = min(end, len(content))  # an offset past the end: what there is
        if start < end:
            packed.append((number, content[start:end]))
    return packed


# --- images --------------------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (they carry the size): C0-CF but DHT, JPG and DAC.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_MAX_JPEG_SEGMENTS = 10_000


def image_size(path: Path, kind: str | None) -> tuple[int, int] | None:
    """(width, height) of a PNG or JPEG; None for anything else or what cannot be read."""
    try:
        with path.open("rb") as handle:
            if kind == "png":
                return _png_size(handle.read(24))
            if kind == "jpg":
                return _jpeg_size(handle)
    except (OSError, ValueError, struct.error):
        return None
    return None


def _png_size(head: bytes) -> tuple[int, int] | None:
    if len(head) < 24 or not head.startswith(_PNG_SIGNATURE) or head[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def _jpeg_size(handle: BinaryIO) -> tuple[int, int] | None:
    read = handle.read
    if read(2) != b"\xff\xd8":
        return None
    for _ in range(_MAX_JPEG_SEGMENTS):
        byte = read(1)
        while byte == b"\xff":  # fill bytes before a marker
            marker = read(1)
            if marker != b"\xff":
                break
            byte = marker
        else:
            return None  # not at a marker: the stream is not what it claims
        if not marker:
            return None
        code = marker[0]
        if code in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            continue
        if code in (0xD9, 0xDA):  # end of image, start of scan: no frame header before
            return None
        length_bytes = read(2)
        if len(length_bytes) < 2:
            return None
        (length,) = struct.unpack(">H", length_bytes)
        if length < 2:
            return None
        if code in _SOF_MARKERS:
            frame = read(5)
            if len(frame) < 5:
                return None
            height, width = struct.unpack(">HH", frame[1:5])
            return width, height
        handle.seek(length - 2, 1)
    return None

"""Real files made in the test: a PDF, a PNG, a CSV, a JPEG header, a DOCX-like zip; and a
multipart/form-data body. bench/ builds its uploads from here too."""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib

BOUNDARY = "9051914041544843365972754266"


def pdf(text: str = "hello", pad: int = 0) -> bytes:
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    if pad:
        out.write(b"%" + b"x" * pad + b"\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer << /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return out.getvalue()


def pdf_of_size(size: int, text: str = "bench") -> bytes:
    """A valid PDF of `size` bytes (at least the unpadded one's): padded with a comment."""
    base = len(pdf(text))
    pad = max(0, size - base - 2)
    data = pdf(text, pad)
    # the xref offset's digit count can move the length by a byte or two
    return pdf(text, max(0, pad - (len(data) - size)))


def pdf_pages(count: int, *, packed: bool = False, updated: bool = False) -> bytes:
    """A PDF of `count` pages. `packed`: the page objects sit in a compressed object stream
    (PDF 1.5 on). `updated`: an incremental update rewrites every page object after the
    original (each page then appears twice in the file, once per revision)."""
    kids = " ".join(f"{3 + i} 0 R" for i in range(count))
    catalog = b"<< /Type /Catalog /Pages 2 0 R >>"
    tree = f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode()
    pages = [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>" for _ in range(count)]
    out = io.BytesIO()
    out.write(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
    out.write(b"1 0 obj\n" + catalog + b"\nendobj\n2 0 obj\n" + tree + b"\nendobj\n")
    if packed:
        bodies = b""
        header = b""
        for index, body in enumerate(pages):
            header += b"%d %d " % (3 + index, len(bodies))
            bodies += body + b"\n"
        content = zlib.compress(header + bodies)
        out.write(
            b"%d 0 obj\n<< /Type /ObjStm /N %d /First %d /Filter /FlateDecode /Length %d >>\n"
            % (3 + count, count, len(header), len(content))
            + b"stream\n"
            + content
            + b"\nendstream\nendobj\n"
        )
    else:
        for index, body in enumerate(pages):
            out.write(b"%d 0 obj\n" % (3 + index) + body + b"\nendobj\n")
    out.write(b"trailer << /Root 1 0 R >>\n%%EOF\n")
    if updated:
        for index, body in enumerate(pages):
            out.write(b"%d 0 obj\n" % (3 + index) + body.replace(b">>", b"/Rotate 90 >>"))
            out.write(b"\nendobj\n")
        out.write(b"trailer << /Root 1 0 R >>\n%%EOF\n")
    return out.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG's signature and IHDR chunk saying `width` x `height`, and an empty image: enough
    for anything that reads the size, at any size."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    ihdr = struct.pack(">I", len(header)) + b"IHDR" + header
    ihdr += struct.pack(">I", zlib.crc32(b"IHDR" + header))
    return b"\x89PNG\r\n\x1a\n" + ihdr + b"\x00\x00\x00\x00IEND\xaeB`\x82"


def jpeg_sized(width: int, height: int, *, exif: int = 0) -> bytes:
    """A JPEG's markers up to its frame header (SOF0) saying `width` x `height`, after an
    APP1 segment of `exif` bytes, then the end of image."""
    app0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    app1 = b"\xff\xe1" + struct.pack(">H", exif + 2) + b"\x00" * exif if exif else b""
    sof = b"\xff\xc0\x00\x11\x08" + struct.pack(">HH", height, width)
    sof += b"\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app0 + app1 + sof + b"\xff\xd9"


def png(width: int = 4, height: int = 3) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\x00" + bytes([10, 20, 30] * width) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def csv(rows: int = 3) -> bytes:
    lines = ["id,amount,currency"] + [f"{i},{i * 100},usd" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def jpeg() -> bytes:
    return (
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        + b"\x00" * 64
        + b"\xff\xd9"
    )


def _zip(entries: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in entries.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def docx() -> bytes:
    return _zip({"[Content_Types].xml": "<Types/>", "word/document.xml": "<document/>"})


def json_doc() -> bytes:
    return b'{"report": "quarterly", "rows": [1, 2, 3]}\n'


def pem() -> bytes:
    return b"-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ==\n-----END CERTIFICATE-----\n"


def apk(size: int = 0) -> bytes:
    """A zip holding AndroidManifest.xml (what the service sniffs as an APK); with `size`,
    padded to about that many bytes by a stored (uncompressed) random entry."""
    entries = {"AndroidManifest.xml": "<manifest/>", "classes.dex": "dex\n035\x00"}
    if not size:
        return _zip(entries)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in entries.items():
            archive.writestr(name, text)
        overhead = len(buffer.getvalue()) + 200
        archive.writestr(
            "assets/padding.bin",
            os.urandom(max(0, size - overhead)),
            compress_type=zipfile.ZIP_STORED,
        )
    return buffer.getvalue()


def multipart(
    *parts: tuple[str, bytes | str, str | None], file_type: str = "application/octet-stream"
) -> tuple[bytes, dict[str, str]]:
    """A multipart body built by hand, the way stripe-python writes it: (name, value,
    filename) per part, a part with a filename sent as `file_type`; and its Content-Type."""
    body = b""
    for name, value, filename in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename is not None:
            body += f"Content-Type: {file_type}\r\n".encode()
        body += b"\r\n" + (value.encode() if isinstance(value, str) else value) + b"\r\n"
    body += f"--{BOUNDARY}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def gif() -> bytes:
    """A 1x1 GIF89a."""
    return (
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff"
        b"!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    )


def svg() -> bytes:
    return (
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>\n'
    )


def xlsx() -> bytes:
    return _zip({"[Content_Types].xml": "<Types/>", "xl/workbook.xml": "<workbook/>"})

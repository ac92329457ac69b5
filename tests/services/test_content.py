"""services/content.py: a PDF's page count and an image's size, from whatever bytes arrive."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from filelinks_api.services import content
from filelinks_api.services.content import image_size, pdf_page_count
from tests import samples

PROPERTIES = settings(derandomize=True, max_examples=200, deadline=None)


def written(tmp_path: Path, data: bytes, name: str = "f") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


class TestPdfPageCount:
    @pytest.mark.parametrize("count", [1, 2, 50, 51, 120])
    @pytest.mark.parametrize("packed", [False, True], ids=["plain", "object-stream"])
    def test_counts_the_page_objects(self, tmp_path, count, packed):
        path = written(tmp_path, samples.pdf_pages(count, packed=packed))
        assert pdf_page_count(path) == count

    @pytest.mark.parametrize("packed", [False, True], ids=["plain", "object-stream"])
    def test_an_incremental_update_does_not_count_a_page_twice(self, tmp_path, packed):
        path = written(tmp_path, samples.pdf_pages(7, packed=packed, updated=True))
        assert pdf_page_count(path) == 7

    def test_the_sample_pdf_has_one_page(self, tmp_path):
        assert pdf_page_count(written(tmp_path, samples.pdf())) == 1

    def test_text_in_a_content_stream_is_not_a_page(self, tmp_path):
        data = samples.pdf(text="/Type /Page /Type /Page")
        assert pdf_page_count(written(tmp_path, data)) == 1

    @pytest.mark.parametrize(
        "data",
        [
            b"",
            b"%PDF-1.4\n",
            b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
            b"%PDF-1.4\n1 0 obj\n<< /Type /Pages /Count 900 >>\nendobj\n",
            b"%PDF-1.4\n1 0 obj\n<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode >>\n"
            b"stream\nnot zlib at all\nendstream\nendobj\n",
            b"%PDF-1.4\n1 0 obj\n<< /Type /ObjStm /First 4 /Filter [/ASCII85Decode /FlateDecode]"
            b" >>\nstream\n<~~>\nendstream\nendobj\n",
        ],
        ids=["empty", "header-only", "no-pages", "pages-node-only", "bad-zlib", "other-filter"],
    )
    def test_no_page_found_is_none(self, tmp_path, data):
        assert pdf_page_count(written(tmp_path, data)) is None

    def test_an_object_stream_header_out_of_range_is_skipped(self, tmp_path):
        packed = zlib.compress(b"3 0 4 99999 << /Type /Page >> << /Type /Page >>")
        data = (
            b"%PDF-1.5\n9 0 obj\n<< /Type /ObjStm /N 2 /First 12 /Filter /FlateDecode >>\n"
            b"stream\n" + packed + b"\nendstream\nendobj\n"
        )
        assert pdf_page_count(written(tmp_path, data)) == 1

    def test_inflating_stops_at_the_budget(self, tmp_path, monkeypatch):
        monkeypatch.setattr(content, "MAX_INFLATED_BYTES", 1000)
        bomb = zlib.compress(b"1 0 " + b" " * 10_000_000 + b"<< /Type /Page >>", 9)
        data = (
            b"%PDF-1.5\n2 0 obj\n<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode >>\n"
            b"stream\n" + bomb + b"\nendstream\nendobj\n"
        )
        assert pdf_page_count(written(tmp_path, data)) is None

    def test_a_missing_file_is_none(self, tmp_path):
        assert pdf_page_count(tmp_path / "gone.pdf") is None

    @PROPERTIES
    @given(st.binary(max_size=2048))
    def test_never_raises(self, tmp_path_factory, tail):
        path = written(tmp_path_factory.mktemp("pdf"), b"%PDF-1.4\n1 0 obj\n" + tail)
        assert pdf_page_count(path) is None or pdf_page_count(path) >= 1

    @PROPERTIES
    @given(st.integers(min_value=0, max_value=10_000), st.binary(max_size=64))
    def test_a_cut_pdf_never_raises(self, tmp_path_factory, cut, noise):
        data = samples.pdf_pages(3, packed=True)[:cut] + noise
        count = pdf_page_count(written(tmp_path_factory.mktemp("pdf"), data))
        assert count is None or 1 <= count <= 3 + noise.count(b"Page")


class TestImageSize:
    def test_png(self, tmp_path):
        assert image_size(written(tmp_path, samples.png(5, 7)), "png") == (5, 7)
        assert image_size(written(tmp_path, samples.png_header(9000, 12)), "png") == (9000, 12)

    @pytest.mark.parametrize("exif", [0, 10, 65_000])
    def test_jpeg_after_other_segments(self, tmp_path, exif):
        path = written(tmp_path, samples.jpeg_sized(640, 480, exif=exif))
        assert image_size(path, "jpg") == (640, 480)

    @pytest.mark.parametrize(
        ("data", "kind"),
        [
            (samples.jpeg(), "jpg"),  # no frame header before the end
            (b"\xff\xd8", "jpg"),
            (b"\xff\xd8\xff\xe1\xff\xff", "jpg"),  # a segment running past the end
            (b"\xff\xd8\xff\xc0\x00\x11", "jpg"),  # a frame header cut short
            (b"\xff\xd8\xff\xe0\x00\x01", "jpg"),  # a length below its own two bytes
            (b"\xff\xd8\x00\x00", "jpg"),  # no marker where one belongs
            (b"\x89PNG\r\n\x1a\n\x00\x00", "png"),
            (b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDX" + b"\x00" * 8, "png"),
            (samples.gif(), "gif"),  # not read
            (samples.pdf(), "pdf"),
        ],
        ids=[
            "jpeg-without-frame",
            "jpeg-soi-only",
            "jpeg-long-segment",
            "jpeg-cut-frame",
            "jpeg-short-length",
            "jpeg-no-marker",
            "png-cut",
            "png-no-ihdr",
            "gif",
            "pdf",
        ],
    )
    def test_unreadable_is_none(self, tmp_path, data, kind):
        assert image_size(written(tmp_path, data), kind) is None

    @PROPERTIES
    @given(st.binary(max_size=512), st.sampled_from(["jpg", "png"]))
    def test_never_raises(self, tmp_path_factory, tail, kind):
        head = b"\xff\xd8" if kind == "jpg" else b"\x89PNG\r\n\x1a\n"
        path = written(tmp_path_factory.mktemp("img"), head + tail)
        size = image_size(path, kind)
        assert size is None or all(0 <= side < 2**32 for side in size)

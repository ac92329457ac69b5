"""Content-Disposition (RFC 6266), without a server."""

from __future__ import annotations

import pytest

from filelinks_api.api.download import content_disposition


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("Statement 2026.pdf", 'attachment; filename="Statement 2026.pdf"'),
        ("a.b-c_d (1).png", 'attachment; filename="a.b-c_d (1).png"'),
        (
            "r\u00e9sum\u00e9.pdf",
            "attachment; filename=\"r_sum_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf",
        ),
        (
            'say "hi".pdf',
            "attachment; filename=\"say _hi_.pdf\"; filename*=UTF-8''say%20%22hi%22.pdf",
        ),
        ("a\\b.pdf", "attachment; filename=\"a_b.pdf\"; filename*=UTF-8''a%5Cb.pdf"),
        ("100%.pdf", "attachment; filename=\"100_.pdf\"; filename*=UTF-8''100%25.pdf"),
        (
            "a\r\nSet-Cookie: x=1.pdf",
            'attachment; filename="a__Set-Cookie: x=1.pdf";'
            " filename*=UTF-8''a%0D%0ASet-Cookie%3A%20x%3D1.pdf",
        ),
        ("\U0001d523.png", "attachment; filename=\"_.png\"; filename*=UTF-8''%F0%9D%94%A3.png"),
    ],
)
def test_attachment(name: str, want: str) -> None:
    got = content_disposition(name)
    assert got == want
    assert got.isascii()
    assert "\r" not in got
    assert "\n" not in got


def test_inline() -> None:
    assert content_disposition("a.pdf", inline=True) == 'inline; filename="a.pdf"'
    assert content_disposition("\u00e9.png", inline=True) == (
        "inline; filename=\"_.png\"; filename*=UTF-8''%C3%A9.png"
    )

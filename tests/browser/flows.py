"""What a person does with the dashboard and the SDK, shared by the page tests and by
`screenshot.py` (which draws docs/dashboard.png from the same session)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import stripe

from tests import samples

if TYPE_CHECKING:
    from playwright.sync_api import Page


def sign_in(page: Page, key: str, *, stripe_account: str | None = None) -> None:
    """Open the sign-in page, paste the key, sign in (and wait until the page has changed)."""
    page.goto("/dashboard/signin")
    page.get_by_label("API key").fill(key)
    if stripe_account is not None:
        page.get_by_label("Stripe-Account").fill(stripe_account)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


def sign_out(page: Page) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()


@contextmanager
def stripe_sdk(base_url: str, key: str) -> Iterator[None]:
    """The module-level stripe API pointed at the server, as the README shows; restored after."""
    saved = (stripe.api_key, stripe.api_base, stripe.upload_api_base, stripe.max_network_retries)
    stripe.api_key = key
    stripe.api_base = stripe.upload_api_base = base_url
    stripe.max_network_retries = 0
    try:
        yield
    finally:
        stripe.api_key, stripe.api_base, stripe.upload_api_base, stripe.max_network_retries = saved


def upload(path: Path, content: bytes, purpose: str = "dispute_evidence") -> stripe.File:
    path.write_bytes(content)
    with path.open("rb") as handle:
        return stripe.File.create(purpose=purpose, file=handle)


@dataclass
class SdkSession:
    image: stripe.File
    pdf: stripe.File
    link: stripe.FileLink
    error: stripe.InvalidRequestError


def sdk_session(directory: Path) -> SdkSession:
    """The README's example, a little longer: upload an image and a PDF, link the PDF for an
    hour, list the links, and make one mistake (a link to a file that does not exist)."""
    image = upload(directory / "receipt.png", samples.png(160, 90))
    pdf = upload(directory / "evidence.pdf", samples.pdf("Dispute evidence"))
    link = stripe.FileLink.create(
        file=pdf.id, expires_at=int(time.time()) + 3600, metadata={"order_id": "6735"}
    )
    stripe.FileLink.list(limit=3)
    try:
        stripe.FileLink.create(file="file_doesnotexist")
    except stripe.InvalidRequestError as error:
        mistake = error
    else:  # pragma: no cover
        raise AssertionError("the emulator accepted a link to a missing file")
    return SdkSession(image=image, pdf=pdf, link=link, error=mistake)

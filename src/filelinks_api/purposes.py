"""Stripe's file purposes: who may upload, link and download them, their types, sizes, expiry,
and the content rules Stripe states for some (a dispute PDF's pages, an ID image's size).

From Stripe's file upload guide (reference §6). Sizes are decimal megabytes, as Stripe prints
them (its 4.194304MB limit is 4,194,304 bytes). Expiry is in days; None means never.
"""

from __future__ import annotations

from dataclasses import dataclass

KB = 1_000
MB = 1_000_000
DAY = 86_400


@dataclass(frozen=True)
class Purpose:
    name: str
    types: tuple[str, ...]
    max_size: int | None
    expires_in_days: int | None
    uploadable: bool
    linkable: bool  # a file link may point at it; its `url` is non-null
    # The upload table's "Downloadable: When uploaded by Connect platform": `url` and the
    # contents only for a file a platform uploaded into a connected account (`Stripe-Account`).
    platform_download: bool = False
    max_pages: int | None = None  # a PDF of more pages is refused
    max_dimension: int | None = None  # an image's width and height must be smaller


_IMAGES = ("jpg", "png")

PURPOSES: dict[str, Purpose] = {
    p.name: p
    for p in (
        Purpose("account_requirement", ("pdf", *_IMAGES), 64 * MB, None, True, False),
        Purpose("additional_verification", ("pdf", *_IMAGES), 16 * MB, None, True, False),
        Purpose("business_icon", (*_IMAGES, "gif"), 512 * KB, None, True, True),
        Purpose("business_logo", (*_IMAGES, "gif"), 512 * KB, None, True, True),
        Purpose("customer_signature", (*_IMAGES, "svg"), 4 * MB, 7, True, True),
        Purpose("dispute_evidence", ("pdf", *_IMAGES), 5 * MB, 270, True, True, max_pages=50),
        Purpose(
            "identity_document",
            ("pdf", *_IMAGES),
            32 * MB,
            None,
            True,
            False,
            platform_download=True,
            max_dimension=8000,
        ),
        Purpose("issuing_regulatory_reporting", ("json",), 256 * KB, 730, True, True),
        Purpose("pci_document", ("pdf",), 16 * MB, None, True, True),
        Purpose("platform_terms_of_service", ("pdf", "txt", "md"), 64 * MB, None, True, False),
        Purpose(
            "tax_document_user_upload",
            ("pdf", "csv", *_IMAGES, "xlsx", "docx"),
            16 * MB,
            None,
            True,
            True,
        ),
        Purpose("terminal_android_apk", ("apk",), 200 * MB, 180, True, True),
        Purpose("terminal_reader_splashscreen", ("png", "jpg", "gif"), 4_194_304, 365, True, True),
        Purpose("terminal_wifi_certificate", ("pem",), 100 * KB, None, True, False),
        Purpose("terminal_wifi_private_key", ("pem",), 100 * KB, None, True, False),
        # Created by Stripe only: never uploadable, some linkable.
        Purpose("document_provider_identity_document", (), None, None, False, False),
        Purpose("finance_report_run", (), None, None, False, True),
        Purpose("financial_account_statement", (), None, None, False, True),
        Purpose("identity_document_downloadable", (), None, None, False, True),
        Purpose("selfie", (), None, None, False, True),
        Purpose("sigma_scheduled_query", (), None, None, False, True),
    )
}

# Stripe's MIME type of each `type` (the upload guide's table).
MIME_TYPES = {
    "apk": "application/vnd.android.package-archive",
    "csv": "text/csv",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "gif": "image/gif",
    "html": "text/html",
    "ico": "image/vnd.microsoft.icon",
    "jpg": "image/jpeg",
    "json": "application/json",
    "jsonl": "application/jsonl",
    "md": "text/markdown",
    "pdf": "application/pdf",
    "pem": "application/x-pem-file",
    "png": "image/png",
    "svg": "image/svg+xml",
    "tiff": "image/tiff",
    "tsv": "text/tab-separated-values",
    "txt": "text/plain",
    "webp": "image/webp",
    "xls": "application/vnd.ms-excel",
    "xlsm": "application/vnd.ms-excel.sheet.macroEnabled.12",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "xml": "application/xml",
    "zip": "application/zip",
}

ALL_PURPOSES: tuple[str, ...] = tuple(sorted(PURPOSES))
UPLOAD_PURPOSES: tuple[str, ...] = tuple(p for p in ALL_PURPOSES if PURPOSES[p].uploadable)
LINKABLE_PURPOSES: tuple[str, ...] = tuple(p for p in ALL_PURPOSES if PURPOSES[p].linkable)
LINK_ON_UPLOAD_PURPOSES: tuple[str, ...] = tuple(p for p in UPLOAD_PURPOSES if PURPOSES[p].linkable)


def expires_at(purpose: str, created: int) -> int | None:
    days = PURPOSES[purpose].expires_in_days
    return None if days is None else created + days * DAY


def downloadable(purpose: str, *, by_platform: bool) -> bool:
    """Whether a file's contents may be read back (its `url` is non-null): the upload table's
    Downloadable column; Stripe-generated linkable purposes too, as a link serves them."""
    found = PURPOSES[purpose]
    return found.linkable or (found.platform_download and by_platform)

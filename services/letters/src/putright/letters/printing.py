"""Print-ready PDFs of posted letters (weasyprint), fetching nothing from the network."""

from __future__ import annotations

from weasyprint import HTML, URLFetcher

# A letter must not reach out to the internet while it is printed: inline images only.
INLINE_ONLY = URLFetcher(allowed_protocols={"data"})


def print_ready_pdf(html: str) -> bytes:
    """An A4 PDF of a rendered letter."""
    pdf: bytes = HTML(string=html, url_fetcher=INLINE_ONLY).write_pdf()
    return pdf

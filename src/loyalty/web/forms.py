"""What an HTML form posts: `application/x-www-form-urlencoded`, read with the standard library (one field
each, no files), so the pages need no multipart parser."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import Request


async def read_form(request: Request) -> dict[str, str]:
    """The form's fields, the last value of each; bytes that are not UTF-8 read as U+FFFD, never an error."""
    return dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))


def form_int(value: str | None) -> int | None:
    """A form's whole number: ASCII digits only, at most 18 ("²" passes str.isdigit, a 5,000-digit number would
    cost a 500 in int()), else None."""
    return int(value) if value and value.isascii() and value.isdigit() and len(value) < 19 else None

"""What an HTML form posts: `application/x-www-form-urlencoded`, read with the standard library (one field
each, no files), so the pages need no multipart parser."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import Request


async def read_form(request: Request) -> dict[str, str]:
    """The form's fields, the last value of each; bytes that are not UTF-8 read as U+FFFD, never an error."""
    return dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))

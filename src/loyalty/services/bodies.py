"""The base of every request body model: an unknown field is a 422 naming it, never silently ignored
(a typo such as `"staff_pn"` would otherwise pass, and the answer would be STAFF_PIN_REQUIRED)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RequestBody(BaseModel):
    """A request body (or a part of one): fields it does not declare are refused (`extra_forbidden`)."""

    model_config = ConfigDict(extra="forbid")

"""People who sign in, as the admin API shows them: never a password or its hash."""

from __future__ import annotations

from pydantic import BaseModel, Field

from loyalty.services.accounts import Invitation


class UserInvitedOut(BaseModel):
    """PAGES.md, "Accounts": the one-time link is shown here once (valid 7 days)."""

    id: int = Field(description="The user's id.")
    email: str = Field(description="The e-mail the person signs in with.")
    role: str = Field(description="`owner` or `manager`.")
    invitation_url: str = Field(
        description="The one-time link where the person chooses a password: valid 7 days, shown only here."
    )

    @classmethod
    def from_invitation(cls, invitation: Invitation, base_url: str) -> UserInvitedOut:
        user = invitation.user
        return cls(id=user.id, email=user.email, role=user.role, invitation_url=base_url.rstrip("/") + invitation.path)

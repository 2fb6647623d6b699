"""`/api/v1/me` and `/api/v1/tokens`: who is calling, and their API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from pa_server.api.deps import CurrentUser, UseCaseDep
from pa_server.api.deps import SessionDep as DbDep
from pa_server.auth.errors import NotSignedIn
from pa_server.auth.models import ApiToken, User
from pa_server.auth.rights import Actor
from pa_server.schemas.common import SingleLine
from pa_server.services import accounts as account_cases

router = APIRouter(tags=["accounts"])


class MePublic(BaseModel):
    """The caller's account as the API shows it."""

    username: str
    full_name: str
    role: str
    zones: list[str]


class TokenCreate(BaseModel):
    """A request for a new API token."""

    model_config = ConfigDict(extra="forbid")
    name: SingleLine = Field(min_length=1, max_length=100)


class TokenPublic(BaseModel):
    """An API token as listed (never the secret itself)."""

    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenPublic):
    """A new token: the only time its secret is shown."""

    token: str


def _public(row: ApiToken) -> TokenPublic:
    return TokenPublic(
        id=row.id,
        name=row.name,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def _user(db: DbSession, actor: Actor) -> User:
    user = db.get(User, actor.id)
    if user is None:
        raise NotSignedIn("the account is gone")
    return user


@router.get("/me", response_model=MePublic)
def me(actor: CurrentUser, db: DbDep) -> MePublic:
    """The signed-in account."""
    user = _user(db, actor)
    return MePublic(
        username=user.username, full_name=user.full_name, role=user.role, zones=list(user.zones)
    )


@router.get("/tokens", response_model=list[TokenPublic])
def list_tokens(actor: CurrentUser, db: DbDep) -> list[TokenPublic]:
    """The caller's API tokens."""
    rows = db.scalars(select(ApiToken).where(ApiToken.user_id == actor.id).order_by(ApiToken.id))
    return [_public(r) for r in rows]


@router.post("/tokens", response_model=TokenCreated, status_code=201)
def create_token(body: TokenCreate, uc: UseCaseDep) -> TokenCreated:
    """A new API token for the caller; the secret is in this answer only."""
    token, row = account_cases.create_token(uc, body.name)
    return TokenCreated(token=token, **_public(row).model_dump())


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(token_id: Annotated[int, Path(ge=1, le=2**31 - 1)], uc: UseCaseDep) -> None:
    """Revoke one of the caller's tokens."""
    account_cases.revoke_token(uc, token_id)

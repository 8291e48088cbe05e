"""Users and their API tokens (admins), and `/me` for everyone."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.deps import AccessDep, PageDep, PathId, QueryId, not_found, paged
from api.schemas import (
    Page,
    TokenCreate,
    TokenIssued,
    TokenPublic,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from matching.db.models import ApiToken, User
from matching.domain import Role
from matching.resources import create_user, update_user
from matching.users import issue_token, revoke_token

router = APIRouter(tags=["users"])


@router.get("/me", summary="The user the token belongs to.")
def me(access: AccessDep) -> UserPublic:
    return UserPublic.model_validate(access.user)


@router.get("/users", summary="Users.")
def list_users(
    access: AccessDep,
    page: PageDep,
    role: Role | None = None,
    organisation_id: QueryId = None,
) -> Page[UserPublic]:
    statement = access.select(User)
    if role is not None:
        statement = statement.where(User.role == role)
    if organisation_id is not None:
        statement = statement.where(User.organisation_id == organisation_id)
    rows, cursor = paged(access.session, statement, User, page)
    return Page(items=[UserPublic.model_validate(u) for u in rows], next_cursor=cursor)


@router.post("/users", status_code=status.HTTP_201_CREATED, summary="Create a user.")
def create(body: UserCreate, access: AccessDep) -> UserPublic:
    user = create_user(session=access.session, **body.model_dump())
    return UserPublic.model_validate(user)


@router.get("/users/{user_id}", summary="One user.")
def get(user_id: PathId, access: AccessDep) -> UserPublic:
    return UserPublic.model_validate(access.get(User, user_id))


@router.patch("/users/{user_id}", summary="Rename, deactivate or reactivate a user.")
def update(user_id: PathId, body: UserUpdate, access: AccessDep) -> UserPublic:
    user = access.get(User, user_id)
    update_user(session=access.session, user=user, changes=body.model_dump(exclude_unset=True))
    return UserPublic.model_validate(user)


@router.get("/users/{user_id}/tokens", summary="A user's tokens (never the tokens themselves).")
def list_tokens(user_id: PathId, access: AccessDep) -> list[TokenPublic]:
    user = access.get(User, user_id)
    tokens = access.session.scalars(
        access.select(ApiToken).where(ApiToken.user_id == user.id)
    ).all()
    return [TokenPublic.model_validate(t) for t in tokens]


@router.post(
    "/users/{user_id}/tokens",
    status_code=status.HTTP_201_CREATED,
    summary="Issue a token; the response is the only time it is shown.",
)
def issue(user_id: PathId, body: TokenCreate, access: AccessDep) -> TokenIssued:
    user = access.get(User, user_id)
    issued = issue_token(
        session=access.session, user_id=user.id, name=body.name, valid_days=body.valid_days
    )
    public = TokenPublic.model_validate(issued.token)
    return TokenIssued(**public.model_dump(), token=issued.secret)


@router.delete(
    "/users/{user_id}/tokens/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke a token from now on.",
)
def revoke(user_id: PathId, token_id: PathId, access: AccessDep) -> Response:
    user = access.get(User, user_id)
    token = access.get(ApiToken, token_id)
    if token.user_id != user.id:
        raise not_found(ApiToken, token_id)
    revoke_token(session=access.session, token_id=token.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

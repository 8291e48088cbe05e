"""Queries the engine shares: which items are searchable, and loading them by id."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import cast

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from matching.db.models import Opening, Placement
from matching.domain import Lane, OpeningStatus, PlacementStatus

Item = Opening | Placement


def item_entity(lane: Lane) -> type[Opening] | type[Placement]:
    return Opening if lane is Lane.JOBS else Placement


def searchable_condition(lane: Lane) -> sa.ColumnElement[bool]:
    """An item is searchable while it is open and has a free position or place.

    Expiry is applied when suggesting (it depends on the clock, not on a change in the
    database), so an opening past its date stays in the index until it is closed.
    """
    if lane is Lane.JOBS:
        return sa.and_(
            Opening.status == OpeningStatus.OPEN, Opening.positions_filled < Opening.positions
        )
    return sa.and_(Placement.status == PlacementStatus.OPEN, Placement.taken < Placement.capacity)


def searchable_ids(session: Session, lane: Lane) -> set[int]:
    entity = item_entity(lane)
    return set(session.scalars(sa.select(entity.id).where(searchable_condition(lane))))


def searchable_items(
    session: Session, lane: Lane, ids: Iterable[int] | None = None, *, chunk: int = 2000
) -> list[Item]:
    """Searchable items of a lane (optionally only among `ids`), in id order, with their owner."""
    entity = item_entity(lane)
    owner = (
        selectinload(Opening.employer)
        if lane is Lane.JOBS
        else selectinload(Placement.asf_provider)
    )
    statement = (
        sa.select(entity).where(searchable_condition(lane)).options(owner).order_by(entity.id)
    )
    if ids is None:
        return list(session.scalars(statement))
    wanted = sorted(set(ids))
    items: list[Item] = []
    for start in range(0, len(wanted), chunk):
        part = wanted[start : start + chunk]
        items.extend(session.scalars(statement.where(entity.id.in_(part))))
    return items


def items_by_id(session: Session, lane: Lane, ids: Sequence[int]) -> dict[int, Item]:
    entity = item_entity(lane)
    if not ids:
        return {}
    items = cast(Sequence[Item], session.scalars(sa.select(entity).where(entity.id.in_(ids))).all())
    return {item.id: item for item in items}

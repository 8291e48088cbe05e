"""The data team's page: ranker versions with their metrics, gates and gender exposure;
promote and roll back through the API's own route functions (same gates, same log line)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from api.deps import Access
from api.routes import models as model_routes
from api.routes.models import ModelVersionPublic
from api.web.render import redirect, render
from api.web.security import PREFIX, allowed, page_access
from matching.errors import Conflict, ModelUnavailable

router = APIRouter()

ListAccess = Annotated[Access, Depends(page_access("GET", "/models"))]
PromoteAccess = Annotated[Access, Depends(page_access("POST", "/models/{version}/promote"))]
RollbackAccess = Annotated[Access, Depends(page_access("POST", "/models/rollback"))]

#: The figures shown for each version: (metric, label).
FIGURES: tuple[tuple[str, str], ...] = (
    ("ndcg_at_10", "NDCG@10 på utvärderingsperioden"),
    ("champion_ndcg_at_10", "Dåvarande champions NDCG@10"),
    ("map", "MAP"),
    ("recall_at_10", "Recall@10"),
    ("quality_ndcg_at_10", "Kvalitetsbenchmark, NDCG@10"),
    ("quality_hard_ndcg_at_10", "Kvalitetsbenchmark, svår variant"),
)


def _figure(metrics: Mapping[str, float], name: str) -> float | None:
    value = metrics.get(name)
    return None if value is None or math.isnan(value) else value


def _exposure(metrics: Mapping[str, float]) -> dict[str, float | None]:
    """Share of competitive jobs in the top 10 for women and men, the gap and its interval."""
    return {
        key: _figure(metrics, f"exposure_{key}")
        for key in ("women", "men", "gap", "gap_low", "gap_high")
    }


def _card(version: ModelVersionPublic) -> dict[str, Any]:
    return {
        "version": version,
        "figures": [(label, _figure(version.metrics, name)) for name, label in FIGURES],
        "exposure": _exposure(version.metrics),
    }


def _page(
    request: Request,
    access: Access,
    *,
    error: str | None = None,
    detail: str | None = None,
    status_code: int = 200,
) -> Response:
    """The page; `error` in Swedish, `detail` the registry's own words (English)."""
    try:
        models = model_routes.versions(access=access, request=request)
    except ModelUnavailable:
        return render(
            request,
            "models.html",
            {"unavailable": True, "cards": [], "error": error, "detail": detail},
            status_code=503,
        )
    return render(
        request,
        "models.html",
        {
            "unavailable": False,
            "serving": models.serving,
            "registry": models.registry,
            "cards": [_card(v) for v in models.versions],
            "can_promote": allowed(access.user, "POST", "/models/{version}/promote"),
            "can_roll_back": allowed(access.user, "POST", "/models/rollback")
            and any(v.champion for v in models.versions),
            "error": error,
            "detail": detail,
        },
        status_code=status_code,
    )


@router.get("/models")
def models_page(request: Request, access: ListAccess) -> Response:
    return _page(request, access)


@router.post("/models/{version}/promote")
def promote(request: Request, version: int, access: PromoteAccess) -> Response:
    try:
        model_routes.promote(version=version, access=access, request=request)
    except Conflict as refused:
        return _page(
            request,
            access,
            error=f"Version {version} kan inte bli champion.",
            detail=str(refused),
            status_code=409,
        )
    return redirect(f"{PREFIX}/models", "befordrad")


@router.post("/models/rollback")
def rollback(request: Request, access: RollbackAccess) -> Response:
    try:
        model_routes.rollback(access=access, request=request)
    except Conflict:
        return _page(
            request,
            access,
            error="Det finns ingen befordrad version att rulla tillbaka.",
            status_code=409,
        )
    return redirect(f"{PREFIX}/models", "tillbaka")

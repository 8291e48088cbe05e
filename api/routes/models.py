"""The ranker models: which version serves, the registered versions and their gates, promotion.

The registry endpoints act on the MLflow registry that feeds this app's ranker
(`training.registry.ChampionWatcher`, started by the app when it loads its own engine).
Promotion here uses the gate report recorded when the version was trained or last
re-checked (`stegvis models promote` re-checks against today's data); it is refused unless
every gate passed against the champion serving now. After a promotion or a rollback the
app switches at once, so the next suggestion comes from the new champion.
"""

from __future__ import annotations

import logging
from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from api.deps import AccessDep, MatcherDep, PathId
from api.schemas import ModelPublic
from matching.errors import Conflict, ModelUnavailable
from matching.features import FEATURES
from training.registry import ChampionWatcher, ModelRegistry, VersionInfo

log = logging.getLogger("stegvis.api")

router = APIRouter(prefix="/models", tags=["models"])


class GatePublic(BaseModel):
    name: str = Field(examples=["ndcg_at_10"])
    passed: bool
    detail: str = Field(
        examples=["held-out NDCG@10 0.8765 vs champion 0.8640 (+0.0125; needs +0.0100)"]
    )


class ModelVersionPublic(BaseModel):
    version: int = Field(examples=[3])
    label: str = Field(examples=["stegvis-ranker/3"])
    status: str = Field(
        description="champion, candidate (passed, not promoted), refused, retired or rolled back",
        examples=["champion"],
    )
    champion: bool
    registered_at: datetime
    run_id: str | None
    dataset_digest: str | None
    compared_with: str | None = Field(examples=["handset-1"])
    gates_passed: bool | None
    gates: list[GatePublic]
    metrics: dict[str, float]


class ModelsPublic(BaseModel):
    serving: str = Field(examples=["stegvis-ranker/3"])
    registry: str = Field(
        description="'ok', or why the registry cannot be read and which model still serves",
        examples=["ok"],
    )
    versions: list[ModelVersionPublic]


class ServingPublic(BaseModel):
    serving: str = Field(examples=["stegvis-ranker/2"])


def _serving(request: Request) -> tuple[ModelRegistry, ChampionWatcher]:
    watcher: ChampionWatcher | None = getattr(request.app.state, "champion_watcher", None)
    if watcher is None:
        raise ModelUnavailable("this app serves a given ranker, not the registry's champion")
    return watcher.registry, watcher


def _public(info: VersionInfo) -> ModelVersionPublic:
    gates = info.gates
    return ModelVersionPublic(
        version=info.version,
        label=info.label,
        status=info.status,
        champion=info.champion,
        registered_at=info.created_at,
        run_id=info.run_id,
        dataset_digest=info.dataset_digest,
        compared_with=gates.compared_with if gates else None,
        gates_passed=gates.passed if gates else None,
        gates=[GatePublic(name=g.name, passed=g.passed, detail=g.detail) for g in gates.gates]
        if gates
        else [],
        metrics=dict(info.metrics),
    )


@router.get("/current", summary="The ranker version serving suggestions now.")
def current(access: AccessDep, matcher: MatcherDep) -> ModelPublic:
    model, version = matcher.ranker.current()
    return ModelPublic(version=version, bias=float(model.bias_), features=list(FEATURES))


@router.get(
    "",
    summary="Every registered version: status, metrics and which promotion gate failed.",
)
def versions(access: AccessDep, request: Request) -> ModelsPublic:
    registry, watcher = _serving(request)
    status = watcher.status()
    return ModelsPublic(
        serving=status.serving,
        registry=status.ready_check(),
        versions=[_public(info) for info in registry.versions()],
    )


@router.post(
    "/{version}/promote",
    summary="Make a version the champion, if its gates passed against today's champion.",
    responses={409: {"description": "A gate failed, or it was checked against another model."}},
)
def promote(version: PathId, access: AccessDep, request: Request) -> ServingPublic:
    registry, watcher = _serving(request)
    info = registry.version(version)
    serving = registry.champion()[1]
    if info.gates is None:
        raise Conflict(f"{info.label} has no gate report; check it with `stegvis models promote`")
    if info.gates.compared_with != serving:
        raise Conflict(
            f"{info.label} was checked against {info.gates.compared_with}, but {serving} "
            "is the champion now; re-check it with `stegvis models promote`"
        )
    registry.promote(version, info.gates)
    watcher.poll()
    log.info("user_id=%s promoted %s", access.user.id, info.label)
    return ServingPublic(serving=watcher.status().serving)


@router.post(
    "/rollback",
    summary="Move the champion back to the previous one (hand-set if there is none).",
    responses={409: {"description": "Nothing was promoted, so there is nothing to undo."}},
)
def rollback(access: AccessDep, request: Request) -> ServingPublic:
    registry, watcher = _serving(request)
    restored = registry.rollback()
    watcher.poll()
    log.info("user_id=%s rolled back the champion to %s", access.user.id, restored)
    return ServingPublic(serving=watcher.status().serving)

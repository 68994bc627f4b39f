from __future__ import annotations

import logging

from fastapi import APIRouter

from service.dependencies import Authorized, StateDep
from service.errors import NotFound
from service.schemas import AliasRequest, ModelInfo, ModelsResponse
from training.manifest import ArtifactError

router = APIRouter(prefix="/models", tags=["models"])
log = logging.getLogger(__name__)


@router.get("", response_model=ModelsResponse)
async def list_models(state: StateDep) -> ModelsResponse:
    """Registered versions with their aliases; versions failing verification are listed as unusable in logs."""
    store = state.registry.store
    aliases = store.aliases()
    models = []
    for version in store.versions():
        try:
            manifest = store.manifest(version)
        except ArtifactError as err:
            log.warning("model %s is not usable: %s", version, err)
            continue
        models.append(
            ModelInfo(
                version=version,
                model_kind=manifest.model_kind,
                n_items=manifest.n_items,
                max_len=manifest.max_len,
                created_at=manifest.created_at,
                parent=manifest.parent,
                data_fingerprint=manifest.data.fingerprint,
                metrics=manifest.metrics,
                aliases=[a for a, v in aliases.items() if v == version],
            )
        )
    return ModelsResponse(models=models, aliases=aliases, loaded=state.registry.loaded())


@router.put("/aliases/{alias}", dependencies=[Authorized])
async def set_alias(alias: str, body: AliasRequest, state: StateDep) -> dict[str, str]:
    """Point `live` or `candidate` at a registered version; loads and verifies it, then swaps atomically."""
    if alias not in ("live", "candidate"):
        raise NotFound(f"unknown alias {alias[:40]!r}; expected 'live' or 'candidate'")
    model = await state.registry.set_alias(alias, body.version, body.reason)
    return {"alias": alias, "version": model.version}

"""Loaded model versions behind the aliases ``live`` and ``candidate``.

Requests take a reference to the live :class:`LoadedModel` once and finish on it, so swapping the alias
(a single reference assignment) never fails an in-flight request or mixes two models in one answer.
A corrupt artifact is refused with a clear log line and never served.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from service.errors import Conflict, InvalidRequest, NotFound, NotReady
from steadyrec.core.manifest import ArtifactError
from steadyrec.core.onnx_model import LoadedModel, SessionConfig, load_version
from steadyrec.core.registry import ALIASES, RegistryStore, validate_version

__all__ = ["ModelRegistry"]

log = logging.getLogger(__name__)


class ModelRegistry:
    def __init__(self, root: Path, session: SessionConfig | None = None, redis_url: str | None = None) -> None:
        self.store = RegistryStore(root, redis_url)
        self.session = session or SessionConfig()
        self._aliases: dict[str, LoadedModel] = {}
        self._lock = asyncio.Lock()  # one alias change at a time; reads never wait for it
        self._stamp: int | None = None  # mtime of aliases.json when last read

    def load_aliases(self) -> None:
        """Load every alias recorded on disk; a version that fails verification is logged and skipped.

        Called at start-up and again whenever ``aliases.json`` changes on disk (a worker registered a
        candidate, or another replica promoted), so every replica converges on the same models. An alias
        whose version is already loaded keeps its session.
        """
        recorded = self.store.aliases()
        for alias, version in recorded.items():
            current = self._aliases.get(alias)
            if current is not None and current.version == version:
                continue
            try:
                self._aliases[alias] = self._load(version)
                log.info("alias %s -> %s (from disk)", alias, version)
            except ArtifactError as err:
                log.error("refusing to serve %s model %s: %s", alias, version, err)
        for alias in set(self._aliases) - set(recorded):
            del self._aliases[alias]

    def aliases_changed(self) -> bool:
        """True when ``aliases.json`` changed since the last check (cheap: one stat)."""
        path = self.store.root / "aliases.json"
        stamp = path.stat().st_mtime_ns if path.exists() else None
        changed = stamp != self._stamp
        self._stamp = stamp
        return changed

    def _load(self, version: str) -> LoadedModel:
        return load_version(version, self.store.path(version), self.session)

    def live(self) -> LoadedModel:
        model = self._aliases.get("live")
        if model is None:
            raise NotReady("no live model is loaded yet; register one and set the 'live' alias")
        return model

    def get(self, alias: str) -> LoadedModel | None:
        return self._aliases.get(alias)

    def loaded(self) -> dict[str, str]:
        return {alias: model.version for alias, model in self._aliases.items()}

    async def refresh(self, force: bool = False) -> None:
        """Reload aliases if another process changed them on disk (``force``: announced, so read the file
        even where its modification time is not visible yet, as on a network file system)."""
        if self.aliases_changed() or force:
            async with self._lock:
                await asyncio.to_thread(self.load_aliases)

    async def clear_alias(self, alias: str, reason: str = "") -> None:
        async with self._lock:
            await asyncio.to_thread(self.store.set_alias, alias, None, reason)
            self._aliases.pop(alias, None)

    async def set_alias(self, alias: str, version: str, reason: str = "") -> LoadedModel:
        """Verify and load ``version`` off the event loop, then swap ``alias`` to it atomically."""
        if alias not in ALIASES:
            raise NotFound(f"unknown alias {alias!r}; expected one of {', '.join(ALIASES)}")
        try:
            validate_version(version)
        except ValueError as err:
            raise InvalidRequest(str(err)) from err
        if not self.store.exists(version):
            raise NotFound(f"no model version {version!r}")
        async with self._lock:
            try:
                model = await asyncio.to_thread(self._load, version)
            except ArtifactError as err:
                log.error("refusing to load model %s: %s", version, err)
                raise Conflict(f"model version {version!r} failed verification: {err}") from err
            await asyncio.to_thread(self.store.set_alias, alias, version, reason)  # writes and fsyncs
            self._aliases[alias] = model  # the swap: one reference assignment
            log.info("alias %s -> %s", alias, version)
            return model

"""The on-disk model registry shared by the service, the worker and the CLI (no torch, no ONNX Runtime).

    <root>/versions/<version>/   one verified artifact directory per version (never modified)
    <root>/aliases.json          {"aliases": {"live": "v3", "candidate": "v4"}, "history": [...]}
    <root>/verdicts/<version>.json  the latest canary verdict of a version (artifacts stay immutable)

Versions are registered by copying into a temporary directory and renaming; ``aliases.json`` is replaced
atomically (write, fsync, rename), so a reader sees the old or the new state, never a mix. Alias changes
by several processes (replicas, the worker) take turns on a file lock beside it, so none is lost. With a
Redis URL, each change is also announced on the ``steadyrec:aliases`` channel, so every replica loads it
at once (service.main listens; each replica's poll of the file stays as the fallback).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from steadyrec.core.manifest import ArtifactError, Manifest, utc_now, verify_artifact

__all__ = ["ALIASES", "ALIAS_CHANNEL", "VERSION_PATTERN", "RegistryStore", "validate_version"]

log = logging.getLogger(__name__)

ALIAS_CHANNEL = "steadyrec:aliases"

ALIASES = ("live", "candidate")
VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def validate_version(version: str) -> str:
    """Version names are plain labels: letters, digits, '.', '_', '-' (no path separators, no '..')."""
    if not VERSION_PATTERN.fullmatch(version) or ".." in version:
        raise ValueError(
            f"invalid model version {version[:80]!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return version


class RegistryStore:
    def __init__(self, root: Path, redis_url: str | None = None) -> None:
        self.root = Path(root)
        self.versions_dir = self.root / "versions"
        self.redis_url = redis_url  # where alias changes are announced; None: replicas see them by polling

    def path(self, version: str) -> Path:
        return self.versions_dir / validate_version(version)

    def exists(self, version: str) -> bool:
        return self.path(version).is_dir()

    def versions(self) -> list[str]:
        if not self.versions_dir.is_dir():
            return []
        return sorted(p.name for p in self.versions_dir.iterdir() if p.is_dir() and VERSION_PATTERN.fullmatch(p.name))

    def register(self, source: Path, version: str) -> Manifest:
        """Copy a verified, exported artifact into the registry under ``version``."""
        target = self.path(version)
        if target.exists():
            raise FileExistsError(f"model version {version!r} already exists")
        manifest = verify_artifact(Path(source), need_onnx=True)
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.versions_dir / f".tmp-{version}-{uuid.uuid4().hex[:8]}"
        try:
            shutil.copytree(source, tmp)
            verify_artifact(tmp, need_onnx=True)
            os.rename(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return manifest

    def adopt(self, built: Path, version: str) -> Manifest:
        """Move a verified, exported artifact built on this file system (a job's staging folder) into the
        registry under ``version`` with one rename, so readers see all of it or nothing."""
        target = self.path(version)
        if target.exists():
            raise FileExistsError(f"model version {version!r} already exists")
        manifest = verify_artifact(Path(built), need_onnx=True)
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        os.rename(built, target)
        return manifest

    def manifest(self, version: str) -> Manifest:
        if not self.exists(version):
            raise ArtifactError(f"no model version {version!r}")
        return verify_artifact(self.path(version), need_onnx=True)

    def _read(self) -> dict[str, Any]:
        path = self.root / "aliases.json"
        if not path.is_file():
            return {"aliases": {}, "history": []}
        state = json.loads(path.read_text(encoding="utf-8"))
        state.setdefault("aliases", {})
        state.setdefault("history", [])
        return state

    def aliases(self) -> dict[str, str]:
        return dict(self._read()["aliases"])

    def history(self) -> list[dict[str, Any]]:
        return list(self._read()["history"])

    def write_verdict(self, version: str, verdict: dict[str, Any]) -> None:
        _write_json_atomically(self.root / "verdicts" / f"{validate_version(version)}.json", verdict)

    def verdict(self, version: str) -> dict[str, Any] | None:
        path = self.root / "verdicts" / f"{validate_version(version)}.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    def previous_live(self) -> str | None:
        """The version that was live before the current one (the target of a rollback)."""
        current = self.aliases().get("live")
        for change in reversed(self.history()):
            if change["alias"] == "live" and change["to"] == current and change["from"] not in (None, current):
                return str(change["from"])
        return None

    def set_alias(self, alias: str, version: str | None, reason: str = "") -> None:
        """Point ``alias`` at ``version`` (None removes it) and append the change to the history."""
        if alias not in ALIASES:
            raise ValueError(f"unknown alias {alias!r}; expected one of {', '.join(ALIASES)}")
        if version is not None and not self.exists(version):
            raise ArtifactError(f"no model version {version!r}")
        with self._alias_lock():
            state = self._read()
            previous = state["aliases"].get(alias)
            if version is None:
                state["aliases"].pop(alias, None)
            else:
                state["aliases"][alias] = version
            change = {"at": utc_now(), "alias": alias, "from": previous, "to": version, "reason": reason}
            state["history"].append(change)
            _write_json_atomically(self.root / "aliases.json", state)
        self._announce(change)

    @contextlib.contextmanager
    def _alias_lock(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "aliases.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _announce(self, change: dict[str, Any]) -> None:
        """Tell every replica about an alias change at once (best effort: they also poll the file)."""
        if self.redis_url is None:
            return
        import redis

        try:
            client = redis.Redis.from_url(self.redis_url, socket_timeout=2)
            client.publish(ALIAS_CHANNEL, json.dumps(change))
            client.close()
        except redis.RedisError as err:
            log.warning("could not announce the alias change (%s); replicas see it on their next poll", err)


def _write_json_atomically(path: Path, payload: Any) -> None:
    """Write, fsync, rename: readers see the old file or the new one, never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.stem}-{uuid.uuid4().hex[:8]}.json"
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)

"""The policy file on disk, reloaded when it changes (hot reload without a restart).

The version a decision records is the file's declared `version` plus a digest of its bytes, so two edits that
forget to bump the number are still told apart. A file that fails to parse keeps the last good policy in
force and the error is reported by `problem`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from concord.hubconfig import bundled_config_dir
from concord.policy.rules import Decision, Fact, PolicyFile, evaluate
from concord.yamlconf import ConfigError, load_yaml_file

POLICY_FILE = "policy.yaml"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedPolicy:
    policy: PolicyFile
    version: str
    stamp: tuple[int, int]  # (mtime_ns, size) of the file it was read from


def policy_path(config_dir: Path | None) -> Path:
    path = (config_dir or bundled_config_dir()) / POLICY_FILE
    return path if path.exists() else bundled_config_dir() / POLICY_FILE


def _load(path: Path) -> LoadedPolicy:
    stat = path.stat()
    raw = path.read_bytes()
    policy = load_yaml_file(PolicyFile, path)
    return LoadedPolicy(policy, f"{policy.version}:{hashlib.sha256(raw).hexdigest()[:8]}",
                        (stat.st_mtime_ns, stat.st_size))


class PolicyStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._loaded = _load(path)  # a bad file at start-up is an error, not a silent default
        self.problem: str | None = None

    def current(self) -> LoadedPolicy:
        """The policy in force, re-read first when the file changed since the last look."""
        with self._lock:
            try:
                stat = self.path.stat()
                if (stat.st_mtime_ns, stat.st_size) != self._loaded.stamp:
                    self._loaded = _load(self.path)
                    self.problem = None
                    log.info("policy reloaded: version %s", self._loaded.version)
            except (OSError, ConfigError) as exc:
                self.problem = str(exc)
                log.warning("policy file not reloaded, the previous version stays in force: %s", exc)
            return self._loaded

    def decide(self, table: str, facts: dict[str, Fact]) -> Decision:
        loaded = self.current()
        return evaluate(loaded.policy, loaded.version, table, facts)

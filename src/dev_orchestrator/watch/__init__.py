"""File watching for ``develop.watch``: changed files -> batches the supervisor acts on.

    rules     the ``develop:`` section as models, and the resolved WatchRule
    matcher   which rule a changed path belongs to (globs, .gitignore, .dockerignore)
    debounce  changes -> one batch per service after a quiet spell (clock-injected)
    feedback  a service that keeps restarting itself through the watcher is suspended
    sync      copy changed files to a local folder or into a container
    watcher   watchfiles underneath; an async iterator of batches and config changes

Runtime code sits above this package: it turns a batch into the reconcile planner's
restart, a sync, or a rebuild, and a config change into a reload and apply.
"""

from __future__ import annotations

from .debounce import Batch, ChangeKind, Clock, ConfigChanged, Debouncer, RuleFiles, combined_action
from .feedback import FeedbackGuard, Suspension
from .matcher import Matcher
from .rules import (
    Action,
    Build,
    Develop,
    ExecSpec,
    OnBusy,
    RuleKey,
    WatchEntry,
    WatchRule,
    from_dict,
    rules_for,
)
from .sync import (
    Archive,
    Container,
    SyncResult,
    container_archive,
    run_exec,
    sync_container,
    sync_local,
)
from .watcher import (
    ChangeSource,
    Roots,
    Watcher,
    WatchError,
    WatchLimitError,
    awatch_source,
    config_files,
    initial_syncs,
    watch_roots,
)

__all__ = [
    "Action",
    "Archive",
    "Batch",
    "Build",
    "ChangeKind",
    "ChangeSource",
    "Clock",
    "ConfigChanged",
    "Container",
    "Debouncer",
    "Develop",
    "ExecSpec",
    "FeedbackGuard",
    "Matcher",
    "OnBusy",
    "Roots",
    "RuleFiles",
    "RuleKey",
    "Suspension",
    "SyncResult",
    "WatchEntry",
    "WatchError",
    "WatchLimitError",
    "WatchRule",
    "Watcher",
    "awatch_source",
    "combined_action",
    "config_files",
    "container_archive",
    "from_dict",
    "initial_syncs",
    "rules_for",
    "run_exec",
    "sync_container",
    "sync_local",
    "watch_roots",
]

"""The compose format's vocabulary: keys that carry over to services.yaml and keys that do not.

Keys in neither list are not compose keys at all (usually typos) and are errors; a key
that is not carried is a note, so that nothing is dropped silently.
"""

from __future__ import annotations

import difflib
from typing import Any

# container options carried into docker: as they are (config/container.py reads compose's shapes)
CONTAINER = {
    "container_name", "hostname", "labels", "networks", "extra_hosts", "expose", "tmpfs", "read_only",
    "init", "privileged", "tty", "stdin_open", "cap_add", "cap_drop", "security_opt", "dns", "sysctls",
    "shm_size", "ulimits",
}
CARRIED = {
    "image", "build", "command", "entrypoint", "environment", "env_file", "ports", "volumes",
    "depends_on", "healthcheck", "restart", "stop_signal", "stop_grace_period", "user",
    "working_dir", "pull_policy", "deploy", "profiles", "gpus", "secrets", "configs", *CONTAINER,
}
NOT_CARRIED = {
    "annotations", "attach", "blkio_config", "cgroup", "cgroup_parent", "cpu_count", "cpu_percent",
    "cpu_shares", "cpu_period", "cpu_quota", "cpu_rt_runtime", "cpu_rt_period", "cpus", "cpuset",
    "credential_spec", "develop", "device_cgroup_rules", "devices", "dns_opt", "dns_search",
    "domainname", "driver_opts", "extends", "external_links", "group_add", "ipc", "isolation",
    "label_file", "links", "logging", "mac_address", "mem_limit", "mem_reservation",
    "mem_swappiness", "memswap_limit", "models", "network_mode", "oom_kill_disable",
    "oom_score_adj", "pid", "pids_limit", "platform", "post_start", "pre_stop", "provider",
    "runtime", "scale", "storage_opt", "use_api_socket", "userns_mode", "uts", "volumes_from",
}
TOP_LEVEL = {"version", "name", "services", "volumes", "networks", "secrets", "configs", "include", "models"}


def kind_of(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: f"the string {value!r}", bool: f"{value!r}".lower(),
            int: f"the number {value}", float: f"the number {value}"}.get(type(value), type(value).__name__)


def suggest(word: str, vocabulary: set[str]) -> str:
    close = difflib.get_close_matches(word, sorted(vocabulary), n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""

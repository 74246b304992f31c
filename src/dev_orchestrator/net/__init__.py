"""Sockets the supervisor owns: listeners passed to children, the loopback proxy, sd_notify.

Why a package of its own: zero-downtime restarts need all three (a port that outlives
the instance serving it, a way to move traffic between instances, and an exact
readiness signal), and none of them belongs to a backend or a probe.
"""

from .listener import Activation, Listener, activation, fd_env, free_loopback_port, preexec
from .notify import NotifyMessage, NotifySocket, sd_notify
from .proxy import Proxy, Target

__all__ = [
    "Activation",
    "Listener",
    "NotifyMessage",
    "NotifySocket",
    "Proxy",
    "Target",
    "activation",
    "fd_env",
    "free_loopback_port",
    "preexec",
    "sd_notify",
]

"""The config file format as frozen pydantic models: the user's spec, nothing derived.

Derived values (argv, environment, concrete dependency conditions) live in
``resolve.ResolvedService``; these models mirror what the user wrote.
"""

from __future__ import annotations

import re
import shlex
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from .container import ContainerOptions
from .deploy import Deploy, Listen
from .develop import Develop
from .stack_secrets import SecretSource, SecretUse, secret_uses
from .types import Duration, Port, RestartText, SignalName

SERVICE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


def _service_name(name: str) -> str:
    if not SERVICE_NAME.match(name):
        raise ValueError(
            f'invalid service name "{name}" (use lowercase letters, digits, ".", "-" and "_", '
            "starting with a letter or digit)"
        )
    return name


VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _variable_name(name: str) -> str:
    if not VARIABLE_NAME.match(name):
        raise ValueError(f'invalid variable name "{name}" (use letters, digits and _, not starting with a digit)')
    return name


VariableName = Annotated[
    str, AfterValidator(_variable_name), WithJsonSchema({"type": "string", "pattern": VARIABLE_NAME.pattern})
]

# Checked per key, so that a bad name is reported at its place together with every other error.
ServiceName = Annotated[
    str, AfterValidator(_service_name), WithJsonSchema({"type": "string", "pattern": SERVICE_NAME.pattern})
]


_SHELL_SPECIAL = re.compile(r"""['"\\#]""")
_SHELL_SPACE = re.compile(r"[ \t\r\n]+")  # shlex's whitespace, and only it


def split_command(text: str) -> list[str]:
    """``text`` split as a shell would: ``shlex.split``, or a plain split when nothing in it
    quotes, escapes or comments (the same words, at a twentieth of the cost)."""
    return shlex.split(text) if _SHELL_SPECIAL.search(text) else [w for w in _SHELL_SPACE.split(text) if w]


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Condition(StrEnum):
    STARTED = "service_started"
    HEALTHY = "service_healthy"
    COMPLETED = "service_completed_successfully"


def _env_mapping(value: Any) -> Any:
    """``environment`` as a map or as a ``KEY=VALUE`` list -> map of str (or None)."""
    if isinstance(value, list):
        out: dict[str, Any] = {}
        for item in value:
            if not isinstance(item, str):
                raise ValueError(f'environment entries must be "KEY=VALUE" strings, got {item!r}')
            key, sep, val = item.partition("=")
            out[key] = val if sep else None
        return out
    if isinstance(value, dict):
        out = {}
        for key, val in value.items():
            if isinstance(val, (dict, list)):
                raise ValueError(f"environment value of {key} must be a string or number")
            if isinstance(val, bool):
                val = "true" if val else "false"
            out[str(key)] = None if val is None else str(val)
        return out
    if value is None:
        return value
    raise ValueError(f'expected a mapping or a list of "KEY=VALUE" strings (got {value!r})')


def _str_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


# `environment:` as a map or a KEY=VALUE list; `env_file:` as one path or a list.
EnvMap = Annotated[dict[str, str | None], BeforeValidator(_env_mapping)]
PathList = Annotated[list[str], BeforeValidator(_str_list)]


class HttpCheck(Model):
    url: str
    status: int | str = Field("200-399", description="expected status, e.g. 200 or 200-299")
    method: Literal["GET", "HEAD"] = "GET"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://", value):
            raise ValueError(f'invalid URL "{value}" (use http://host:port/path)')
        return value

    @field_validator("status")
    @classmethod
    def _status(cls, value: int | str) -> int | str:
        text = str(value)
        if not re.fullmatch(r"[1-5]\d\d(-[1-5]\d\d)?", text):
            raise ValueError(f'invalid status "{value}" (use 200 or a range like 200-399)')
        return int(text) if "-" not in text else text

    def accepts(self, status: int) -> bool:
        text = str(self.status)
        low, _, high = text.partition("-")
        return int(low) <= status <= int(high or low)


class TcpCheck(Model):
    host: str = "127.0.0.1"
    port: Port


class Probe(Model):
    """One probe: exactly one of http, tcp, command, log, notify."""

    http: HttpCheck | None = None
    tcp: TcpCheck | None = None
    command: list[str] | str | None = None
    log: str | None = Field(None, description="regular expression matched on the service's output")
    notify: Literal[True] | None = Field(
        None, description="ready when the instance sends READY=1 on $NOTIFY_SOCKET (sd_notify)")
    timeout: Duration | None = None

    @field_validator("log")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f'invalid regular expression "{value}": {exc}') from None
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Probe:
        kinds = self.kinds()
        if len(kinds) != 1:
            found = ", ".join(kinds) if kinds else "none"
            raise ValueError(f"a probe needs exactly one of http, tcp, command, log, notify (found {found})")
        return self

    def kinds(self) -> list[str]:
        return [k for k in ("http", "tcp", "command", "log", "notify") if getattr(self, k) is not None]

    @property
    def kind(self) -> str:
        return self.kinds()[0]

    def argv(self) -> list[str]:
        """The probe command as argv (a string runs through ``sh -c``)."""
        if isinstance(self.command, str):
            return ["sh", "-c", self.command]
        return list(self.command or [])

    def describe(self) -> str:
        if self.http:
            return f"http {self.http.url}"
        if self.tcp:
            return f"tcp {self.tcp.host}:{self.tcp.port}"
        if self.command is not None:
            return "command " + (self.command if isinstance(self.command, str) else shlex.join(self.command))
        if self.notify:
            return "notify READY=1"
        return f"log /{self.log}/"


STARTUP_INTERVAL = 2.0  # start-up probing is capped here unless start_interval says otherwise
STARTUP_RETRIES = 15  # start-up intervals before giving up, unless retries says otherwise


class HealthCheck(Probe):
    """A service's healthcheck: a probe plus timings, and an optional deep probe.

    Start-up probes fast (10 ms, then 5% of the time waited so far) up to
    ``start_interval`` and gives up after ``start_period`` + retries x start_interval.
    Once healthy, liveness probes every ``interval`` (compose's meaning) and reports
    unhealthy after ``retries`` failures in a row.
    """

    interval: Duration = Field(10.0, description="between liveness probes once healthy (default 10s)")
    timeout: Duration | None = 2.0
    retries: int = Field(3, ge=1, description="failures in a row that make a healthy service unhealthy "
                                             "(default 3); also the start-up intervals allowed (default 15)")
    start_period: Duration = 0.0
    start_interval: Duration | None = Field(
        None, description="the longest pause between start-up probes (default: interval, at most 2s)")
    deep: Probe | None = None

    def startup_interval(self) -> float:
        """The cap of start-up polling: start_interval, else interval up to 2 s."""
        if self.start_interval is not None:
            return self.start_interval
        return min(self.interval, STARTUP_INTERVAL)

    def startup_retries(self) -> int:
        return self.retries if "retries" in self.model_fields_set else STARTUP_RETRIES

    def startup_deadline(self) -> float:
        """Seconds a service may take to become healthy before start-up fails."""
        return self.start_period + self.startup_retries() * self.startup_interval()


class BuildSpec(Model):
    context: str = "."
    dockerfile: str | None = None
    args: dict[str, str] = Field(default_factory=dict)
    target: str | None = None

    @field_validator("args", mode="before")
    @classmethod
    def _args(cls, value: Any) -> Any:
        return {k: v for k, v in (_env_mapping(value) or {}).items() if v is not None}


class DockerSpec(ContainerOptions):
    """How the service runs when Docker is on (the container options: config/container.py)."""

    image: str | None = None
    build: BuildSpec | None = None
    pull: Literal["missing", "always", "never"] = "missing"
    ports: list[str] = Field(default_factory=list, description='compose style: "8080", "8080:80", "127.0.0.1:8080:80"')
    volumes: list[str] = Field(default_factory=list, description='"name:/path[:ro]" or "./dir:/path[:ro]"')
    environment: EnvMap = Field(default_factory=dict)
    env_file: PathList = Field(default_factory=list)
    command: list[str] | str | None = None
    entrypoint: list[str] | str | None = None
    user: str | None = None
    working_dir: str | None = None
    healthcheck: HealthCheck | Literal["docker"] | None = None

    @field_validator("build", mode="before")
    @classmethod
    def _build(cls, value: Any) -> Any:
        return {"context": value} if isinstance(value, str) else value

    @field_validator("ports", mode="before")
    @classmethod
    def _ports(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
        return value

    @field_validator("ports")
    @classmethod
    def _port_syntax(cls, value: list[str]) -> list[str]:
        for item in value:
            if not re.fullmatch(r"(?:(?:\[[0-9a-fA-F:.]+\]|[0-9.]+):)?(?:\d+:)?\d+(?:/(?:tcp|udp))?", item):
                raise ValueError(f'invalid port mapping "{item}" (use "8080", "8080:80" or "127.0.0.1:8080:80")')
        return value

    @model_validator(mode="after")
    def _image_or_build(self) -> DockerSpec:
        if self.image is None and self.build is None:
            raise ValueError("docker needs an image or a build (or both, to name the built image)")
        return self


class Dependency(Model):
    condition: Condition | None = Field(
        None, description="default: service_healthy when the dependency has a healthcheck, else service_started"
    )
    restart: bool = False
    required: bool = True


class Service(Model):
    """One service of the stack, as written."""

    description: str | None = None
    command: list[str] | str | None = None
    shell: bool = False
    working_dir: str | None = None
    environment: EnvMap = Field(default_factory=dict)
    env_file: PathList = Field(default_factory=list)
    depends_on: dict[str, Dependency] = Field(default_factory=dict)
    healthcheck: HealthCheck | Literal["docker"] | None = None
    ports: list[Port] = Field(default_factory=list)
    listen: list[Listen] = Field(default_factory=list, description="ports the supervisor binds and keeps across restarts")
    deploy: Deploy | None = None
    critical: bool = True
    restart: RestartText = "no"
    stop_signal: SignalName = "SIGTERM"
    stop_grace_period: Duration = 10.0
    docker: DockerSpec | None = None
    enabled: bool = True
    profiles: list[str] = Field(
        default_factory=list,
        description="compose profiles: the service runs only when one is active (--profile, COMPOSE_PROFILES) "
        "or when it is named on the command line; none means always",
    )
    gpus: int | None = Field(None, ge=0)
    develop: Develop | None = None
    secrets: list[SecretUse] = Field(
        default_factory=list,
        description="secrets (top-level secrets:) the service reads from files: /run/secrets/<name> in a "
        "container, the path in <NAME>_FILE for a process")
    settings_from: PathList = Field(
        default_factory=list,
        description="settings sections this service receives besides its own settings.<service> "
        "(e.g. [backend] for a migration job that reads BACKEND_* variables)",
    )

    @field_validator("secrets", mode="before")
    @classmethod
    def _secrets(cls, value: Any) -> Any:
        return secret_uses(value)

    @field_validator("depends_on", mode="before")
    @classmethod
    def _deps(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            for item in value:
                if not isinstance(item, str):
                    raise ValueError(f"depends_on entries must be service names, got {item!r}")
            return {name: {} for name in value}
        if isinstance(value, dict):
            return {k: ({} if v is None else v) for k, v in value.items()}
        if value is None:
            return value
        raise ValueError(f"expected a list of service names or a mapping (got {value!r})")

    @field_validator("command")
    @classmethod
    def _command(cls, value: list[str] | str | None) -> list[str] | str | None:
        if isinstance(value, str):
            try:
                split_command(value)
            except ValueError as exc:
                raise ValueError(f'cannot split command "{value}": {exc}') from None
            if not value.strip():
                raise ValueError("command is empty")
        if isinstance(value, list) and not value:
            raise ValueError("command is empty")
        return value

    @model_validator(mode="after")
    def _runnable(self) -> Service:
        if self.command is None and self.docker is None:
            raise ValueError("a service needs a command, a docker: section, or both")
        if self.healthcheck == "docker" and self.docker is None:
            raise ValueError('healthcheck "docker" needs a docker: section')
        return self

    def argv(self) -> list[str]:
        """The command as argv: a string is split like a shell (or run by sh with shell: true)."""
        if self.command is None:
            return []
        if self.shell:
            text = self.command if isinstance(self.command, str) else shlex.join(self.command)
            return ["/bin/sh", "-c", text]
        return split_command(self.command) if isinstance(self.command, str) else list(self.command)


class DashboardOptions(Model):
    """The web dashboard that the supervisor serves (`dev-orchestrator dashboard`)."""

    port: int | None = Field(
        None, ge=1, le=65535, description="TCP port of the web dashboard on 127.0.0.1 (default: a free port)"
    )


class Orchestrator(Model):
    """Options of the tool itself."""

    docker: bool = False
    containers: list[str] | None = Field(
        None,
        description="services that run as containers when Docker is on (default: every service with a "
        "docker: section); the others run their command as local processes",
    )
    strict: bool = False
    start_timeout: Duration | None = Field(None, description="overall start-up bound; default per service")
    concurrency: int | None = Field(None, ge=1, description="most services started at once")
    log_max_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    log_backups: int = Field(3, ge=0)
    env_var: VariableName | None = Field(
        None, description="variable that gives every service the environment's name (e.g. APP_ENV); none by default"
    )
    secrets: list[VariableName] = Field(
        default_factory=list,
        description="variables whose values are secret besides those named like one (*PASSWORD*, *TOKEN*, ...); "
        "a value that interpolates one is masked and exported as a secret. The lists of all files add up",
    )
    dashboard: DashboardOptions = Field(
        default_factory=DashboardOptions, description="the web dashboard (`dev-orchestrator dashboard`)"
    )


class StackFile(Model):
    """The whole merged document."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="dev-orchestrator services.yaml")

    name: str | None = None
    services: dict[ServiceName, Service] = Field(
        default_factory=dict, json_schema_extra={"additionalProperties": False}
    )
    settings: dict[str, Any] = Field(default_factory=dict)
    orchestrator: Orchestrator = Field(default_factory=Orchestrator)
    secrets: dict[str, SecretSource] = Field(
        default_factory=dict, description="secrets by name: {file: PATH} or {environment: VARIABLE} (compose's)")

    @model_validator(mode="before")
    @classmethod
    def _drop_extensions(cls, value: Any) -> Any:
        # Compose-style extension fields (x-anything) hold anchors for reuse.
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if not str(k).startswith("x-")}
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not SERVICE_NAME.match(value):
            raise ValueError(f'invalid project name "{value}" (use lowercase letters, digits, - and _)')
        return value


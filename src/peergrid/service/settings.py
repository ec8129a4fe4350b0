"""The service's settings: one validated model, read once at start and passed explicitly.

:class:`ServiceSettings` (pydantic-settings) holds everything the trading service takes from its
environment: the database, the clearing scheduler's tick, the MQTT broker, the security options
(token lifetime, cookie flag, trusted proxies and origins, body limits, HSTS) and the crash tests'
fault injection. Each field is read from the environment variable ``PEERGRID_<FIELD NAME>``
(upper case, e.g. ``PEERGRID_SCHEDULER_TICK``); keyword arguments override the environment, empty
variables count as unset. :func:`load_settings` validates them and turns the first problem into a
one-line :class:`~peergrid.core.errors.ConfigError` naming the variable (``peergrid serve`` exits
with status 2).

The settings then travel explicitly: ``create_app(settings=...)`` builds the app's
:class:`~peergrid.service.auth.AuthSettings`, :class:`~peergrid.service.web.WebSettings`, the
scheduler and the MQTT ingestor from them (``app.state.settings``), and nothing below reads the
environment. ``peergrid serve --workers N`` starts N processes through uvicorn, which needs an
import string (:func:`peergrid.service.app.app_from_env`); the CLI serialises the validated
settings into the one variable :data:`SETTINGS_ENV` for the time the server runs
(:func:`worker_environment`) and every worker rebuilds the same model from it
(:func:`settings_from_env`). Without that variable, :func:`settings_from_env` reads the
``PEERGRID_*`` variables, so ``uvicorn --factory peergrid.service.app:app_from_env`` works as well.

:func:`settings_table` lists every setting (variable, default, meaning) as the Markdown table of
docs/service.md; a test keeps the two equal.

Examples
--------
>>> s = load_settings(scheduler_tick=0, trusted_proxies="10.0.0.0/8, 127.0.0.1", environ={})
>>> s.scheduler_enabled, s.auth().trusted_proxies
(False, ('10.0.0.0/8', '127.0.0.1'))
>>> load_settings(scheduler_tick=0.1, environ={})
Traceback (most recent call last):
...
peergrid.core.errors.ConfigError: setting PEERGRID_SCHEDULER_TICK: must be 0 (off) or 0.5..86400 s, got 0.1
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from peergrid.core.errors import ConfigError, PeergridError

if TYPE_CHECKING:
    from peergrid.service.auth import AuthSettings
    from peergrid.service.mqtt.url import BrokerURL
    from peergrid.service.web import WebSettings

__all__ = [
    "ENV_PREFIX",
    "SETTINGS_ENV",
    "MqttSettings",
    "ServiceSettings",
    "default_settings",
    "load_mqtt_settings",
    "load_settings",
    "settings_from_env",
    "settings_table",
    "worker_environment",
]

#: Prefix of every setting's environment variable.
ENV_PREFIX = "PEERGRID_"
#: The one variable that hands the validated settings (JSON of :meth:`ServiceSettings.to_json`) to server workers.
SETTINGS_ENV = "PEERGRID_SETTINGS_JSON"
MiB = 1 << 20
#: Settings whose values are never echoed in an error message (they may hold a password).
_SECRET = frozenset({"db", "mqtt_url", "mqtt_password"})

CommaList = Annotated[tuple[str, ...], NoDecode]

#: The environment the models read while one is being built (``None``: the process's; see :func:`load_settings`).
_ENVIRON: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar("peergrid_settings_environ",
                                                                                    default=None)


class _Environment(EnvSettingsSource):
    """The ``PEERGRID_*`` variables of :data:`_ENVIRON` if set, else of the process."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        environ = _ENVIRON.get()
        if environ is None:
            return super()._load_env_vars()
        # as pydantic-settings reads os.environ: names lower-cased (case-insensitive), empty values unset
        return {k if self.case_sensitive else k.lower(): v for k, v in environ.items()
                if not (self.env_ignore_empty and v == "")}


def _split(v: Any) -> Any:
    """``"a, b,,c"`` → ``("a", "b", "c")``; lists and tuples entry by entry (``["a,b", "c"]`` → ``("a", "b", "c")``)."""
    if isinstance(v, str):
        v = [v]
    if isinstance(v, list | tuple):
        return tuple(p.strip() for item in v for p in str(item).split(",") if p.strip())
    return v


class MqttSettings(BaseSettings):
    """The MQTT broker of meter readings (also what ``peergrid meters simulate`` reads).

    Attributes
    ----------
    mqtt_url : str or None
        ``$PEERGRID_MQTT_URL``: broker of the ingestor, ``mqtt://user@host:1883`` or
        ``mqtts://user@host:8883?ca=ca.crt`` (:class:`~peergrid.service.mqtt.url.BrokerURL`); ``None``: no
        MQTT ingestion.
    mqtt_ca : str or None
        ``$PEERGRID_MQTT_CA``: CA file of ``mqtts://`` URLs without ``?ca=`` (default: the system's CAs).
    mqtt_password : str or None
        ``$PEERGRID_MQTT_PASSWORD``: password of a URL that names only the user (keeps it out of
        command lines).
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True, extra="forbid", frozen=True)

    mqtt_url: str | None = Field(None, description="MQTT broker of meter readings: `mqtt://user@host:1883` or "
                                 "`mqtts://user@host:8883?ca=ca.crt`; unset: no MQTT ingestion")
    mqtt_ca: str | None = Field(None, description="CA file of `mqtts://` URLs without `?ca=` "
                                "(default: the system's CAs)")
    mqtt_password: str | None = Field(None, repr=False, description="password of an MQTT URL that names "
                                      "only the user (keeps it out of command lines and `ps`)")

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments, then the environment (:class:`_Environment`); no ``.env`` or secrets files."""
        return init_settings, _Environment(settings_cls)

    @model_validator(mode="after")
    def _check_broker(self) -> MqttSettings:
        if self.mqtt_url is not None:
            try:
                self.broker()
            except ConfigError as exc:
                raise ValueError(str(exc)) from None  # named after mqtt_url by _one_line
        return self

    def broker(self, url: str | None = None) -> BrokerURL | None:
        """The broker of ``url`` (default :attr:`mqtt_url`) with this CA file and password; ``None`` without a URL.

        Raises
        ------
        ConfigError
            If the URL is not a valid broker URL or the CA file does not exist.
        """
        from peergrid.service.mqtt.url import BrokerURL

        url = url or self.mqtt_url
        if not url:
            return None
        return BrokerURL.parse(url, ca_file=self.mqtt_ca, password=self.mqtt_password)


class ServiceSettings(MqttSettings):
    """Every setting of the trading service (see the module docstring and docs/service.md).

    Attributes
    ----------
    db : str or None
        ``$PEERGRID_DB``: database, a SQLite file (default ``peergrid.db``) or
        ``postgresql+psycopg://user:pw@host/db``; validated and normalised
        (:func:`peergrid.service.db.normalise_url`), see :attr:`database_url`.
    scheduler_tick : float
        ``$PEERGRID_SCHEDULER_TICK``: seconds between clearing scheduler ticks; 0 = no scheduler,
        else at least 0.5 s.
    fast_auth : bool
        ``$PEERGRID_FAST_AUTH``: cheap argon2 parameters (benchmarks and tests only).
    token_ttl_s : int
        ``$PEERGRID_TOKEN_TTL_S``: lifetime of an access token and its session cookie, s.
    cookie_secure : bool
        ``$PEERGRID_COOKIE_SECURE``: ``Secure`` flag on the session cookie (serve behind HTTPS).
    trusted_proxies : tuple of str
        ``$PEERGRID_TRUSTED_PROXIES``: reverse proxies (IP addresses or CIDR networks, comma-separated)
        whose ``X-Forwarded-For`` is believed.
    trusted_origins : tuple of str
        ``$PEERGRID_TRUSTED_ORIGINS``: further origins (``https://host[:port]``, comma-separated) whose
        pages may send state-changing requests with the session cookie.
    max_body : int
        ``$PEERGRID_MAX_BODY``: largest request body of routes without their own limit, bytes.
    max_readings_body : int
        ``$PEERGRID_MAX_READINGS_BODY``: largest body of a readings upload, bytes.
    hsts_s : int
        ``$PEERGRID_HSTS_S``: ``Strict-Transport-Security`` max-age on HTTPS responses, s; 0 = none.
    fault_pause_file, fault_pause_s
        ``$PEERGRID_FAULT_PAUSE_FILE``, ``$PEERGRID_FAULT_PAUSE_S``: crash tests only — settlement
        writes its stage to the file and sleeps this long inside its open transaction.
    """

    db: str | None = Field(None, description="database: a SQLite file (default `peergrid.db`) or "
                           "`postgresql+psycopg://user:pw@host/db`")
    scheduler_tick: float = Field(10.0, description="seconds between clearing scheduler ticks; 0 = no scheduler, "
                                  "else at least 0.5")
    fast_auth: bool = Field(False, description="cheap argon2 parameters (benchmarks and tests only, never in "
                            "production)")
    token_ttl_s: int = Field(3600, description="lifetime of an access token and its session cookie, s")
    cookie_secure: bool = Field(False, description="`Secure` flag on the session cookie (serve behind HTTPS)")
    trusted_proxies: CommaList = Field((), description="reverse proxies (IP addresses or CIDR networks, "
                                       "comma-separated) whose `X-Forwarded-For` is believed; unset: none")
    trusted_origins: CommaList = Field((), description="further origins (`https://host[:port]`, comma-separated) "
                                       "whose pages may send state-changing requests with the session cookie")
    max_body: int = Field(1 * MiB, description="largest request body of routes without their own limit, bytes")
    max_readings_body: int = Field(16 * MiB, description="largest body of a readings upload, bytes")
    hsts_s: int = Field(0, description="`Strict-Transport-Security` max-age on HTTPS responses, s; 0 = none")
    fault_pause_file: str | None = Field(None, description="crash tests only: settlement writes its stage to "
                                         "this file and pauses inside its open transaction")
    fault_pause_s: float = Field(60.0, description="crash tests only: length of that pause, s")

    _split_lists = field_validator("trusted_proxies", "trusted_origins", mode="before")(_split)

    @field_validator("db")
    @classmethod
    def _normalise_db(cls, v: str | None) -> str | None:
        from peergrid.service.db import normalise_url

        try:
            return None if v is None else normalise_url(v)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("scheduler_tick")
    @classmethod
    def _tick(cls, v: float) -> float:
        if not (v == 0 or 0.5 <= v <= 86400):
            raise ValueError(f"must be 0 (off) or 0.5..86400 s, got {v:g}")
        return v

    @field_validator("token_ttl_s")
    @classmethod
    def _ttl(cls, v: int) -> int:
        if not 60 <= v <= 30 * 86400:
            raise ValueError(f"must be 60..2592000 s (1 min .. 30 days), got {v}")
        return v

    @field_validator("max_body", "max_readings_body")
    @classmethod
    def _body(cls, v: int) -> int:
        if not 1 <= v <= 1 << 31:
            raise ValueError(f"must be 1..2147483648 bytes, got {v}")
        return v

    @field_validator("hsts_s")
    @classmethod
    def _hsts(cls, v: int) -> int:
        if not 0 <= v <= 2 * 365 * 86400:
            raise ValueError(f"must be 0..63072000 s (two years), got {v}")
        return v

    @field_validator("fault_pause_s")
    @classmethod
    def _pause(cls, v: float) -> float:
        if not 0 <= v <= 3600:
            raise ValueError(f"must be 0..3600 s, got {v:g}")
        return v

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        from peergrid.service.auth import parse_proxies

        try:
            parse_proxies(v)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return v

    @field_validator("trusted_origins")
    @classmethod
    def _origins(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        from peergrid.service.web import normalize_origin

        for origin in v:
            if normalize_origin(origin) is None:
                raise ValueError(f"trusted origin {origin!r} is not scheme://host[:port]")
        return v

    # ------------------------------------------------------------------ what the parts of the service take

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL of :attr:`db` (default ``sqlite:///peergrid.db``)."""
        from peergrid.service.db import normalise_url

        return self.db or normalise_url(None)

    @property
    def scheduler_enabled(self) -> bool:
        """Whether the clearing scheduler runs (``scheduler_tick > 0``)."""
        return self.scheduler_tick > 0

    def auth(self) -> AuthSettings:
        """The :class:`~peergrid.service.auth.AuthSettings` of these settings."""
        from peergrid.service.auth import FAST_AUTH, AuthSettings

        base = FAST_AUTH if self.fast_auth else AuthSettings()
        return dataclasses.replace(base, token_ttl_s=self.token_ttl_s, cookie_secure=self.cookie_secure,
                                   trusted_proxies=self.trusted_proxies)

    def web(self) -> WebSettings:
        """The :class:`~peergrid.service.web.WebSettings` of these settings."""
        from peergrid.service.web import WebSettings

        limits = WebSettings.route_body_limits
        return WebSettings(max_body_bytes=self.max_body,
                           route_body_limits=((limits[0][0], self.max_readings_body), *limits[1:]),
                           trusted_origins=self.trusted_origins, hsts_max_age_s=self.hsts_s)

    def to_json(self) -> str:
        """Every field as JSON, secrets included: what :func:`worker_environment` hands to the workers."""
        return self.model_dump_json()


def _env_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def _one_line(exc: ValidationError, options: Mapping[str, str] | None = None) -> ConfigError:
    """The first problem of a validation error as one line naming the setting (never echoing a secret)."""
    err = exc.errors(include_url=False)[0]
    loc = err.get("loc") or ()
    field = str(loc[0]) if loc else ""
    msg = str(err.get("msg", "invalid value"))
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    if err.get("type") == "extra_forbidden":
        return ConfigError(f"unknown setting {field!r}")
    if not field:  # a model-level check (MqttSettings._check_broker)
        field = "mqtt_url"
    name = _env_name(field)
    if options and field in options:
        name = f"{options[field]} ({name})"
    given = err.get("input")
    if err.get("type") != "value_error" and field not in _SECRET and isinstance(given, str | int | float):
        msg = f"{msg}, got {str(given)[:80]!r}"
    return ConfigError(f"setting {name}: {msg}".splitlines()[0])


def _load(cls: type[MqttSettings], environ: Mapping[str, str] | None, options: Mapping[str, str] | None,
          overrides: dict[str, Any]) -> Any:
    kw = {k: v for k, v in overrides.items() if v is not None}
    token = _ENVIRON.set(environ)
    try:
        return cls(**kw)
    except ValidationError as exc:
        raise _one_line(exc, options) from None
    except PeergridError as exc:
        raise ConfigError(str(exc).splitlines()[0]) from None
    finally:
        _ENVIRON.reset(token)


def load_settings(*, environ: Mapping[str, str] | None = None, options: Mapping[str, str] | None = None,
                  **overrides: Any) -> ServiceSettings:
    """Validated service settings from ``overrides`` (``None`` values ignored) over the environment.

    Parameters
    ----------
    environ : mapping, optional
        Read the ``PEERGRID_*`` variables from this mapping instead of the process environment.
    options : mapping, optional
        ``{field: command-line option}`` to name in error messages (e.g. ``{"db": "--db"}``).
    **overrides
        Field values (e.g. from command-line options); they win over the environment.

    Raises
    ------
    ConfigError
        One line: ``setting PEERGRID_<NAME>: <problem>`` for the first invalid value.
    """
    return _load(ServiceSettings, environ, options, overrides)  # type: ignore[no-any-return]


@functools.cache
def default_settings() -> ServiceSettings:
    """Every setting at its default, whatever the environment holds (what ``create_app()`` uses without settings)."""
    return load_settings(environ={})


def load_mqtt_settings(*, environ: Mapping[str, str] | None = None, options: Mapping[str, str] | None = None,
                       **overrides: Any) -> MqttSettings:
    """Validated :class:`MqttSettings` (as :func:`load_settings`, for clients of the broker such as the simulator)."""
    return _load(MqttSettings, environ, options, overrides)  # type: ignore[no-any-return]


def settings_from_env(environ: Mapping[str, str] | None = None) -> ServiceSettings:
    """The settings of a server worker: from :data:`SETTINGS_ENV` if set, else from the ``PEERGRID_*`` variables.

    Raises
    ------
    ConfigError
        If the settings are invalid (one line naming the variable).
    """
    env = os.environ if environ is None else environ
    text = env.get(SETTINGS_ENV)
    if not text:
        return load_settings(environ=environ)
    token = _ENVIRON.set({})  # the JSON holds every field: nothing else is read
    try:
        return ServiceSettings.model_validate_json(text)
    except ValidationError as exc:
        raise ConfigError(f"{SETTINGS_ENV}: {_one_line(exc)}") from None
    finally:
        _ENVIRON.reset(token)


@contextlib.contextmanager
def worker_environment(settings: ServiceSettings) -> Iterator[None]:
    """Hand ``settings`` to server worker processes: :data:`SETTINGS_ENV` holds their JSON while the block runs.

    uvicorn starts its workers from an import string (:func:`peergrid.service.app.app_from_env`), so the
    settings travel in this one variable (inherited by the child processes), built from the validated model
    and read back by :func:`settings_from_env`; it is removed again when the block ends.
    """
    old = os.environ.get(SETTINGS_ENV)
    os.environ[SETTINGS_ENV] = settings.to_json()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(SETTINGS_ENV, None)
        else:
            os.environ[SETTINGS_ENV] = old


def settings_table() -> str:
    """The Markdown table of every setting: variable, default, meaning (docs/service.md holds it verbatim)."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    mqtt = list(MqttSettings.model_fields)
    fields = ServiceSettings.model_fields
    for name in [n for n in fields if n not in mqtt] + mqtt:  # the database first, the broker last
        f = fields[name]
        default = f.default
        shown = ("unset" if default is None else "empty" if default == () else
                 str(default).lower() if isinstance(default, bool) else f"{default:g}" if isinstance(default, float)
                 else f"{default:,}" if isinstance(default, int) else str(default))
        rows.append(f"| `{_env_name(name)}` | {shown} | {f.description} |")
    return "\n".join(rows) + "\n"

"""Daemon settings: CLI flags over ``METALOSC_*`` environment variables over a TOML file.

One validated object, so a bad value (from any of the three places) fails at start-up with the
setting named, never later in the middle of a song.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Annotated, Any, Literal

from metalosc.protocol import KeyName, Transition
from metalosc.runtime import BASS_CANDIDATES
from pydantic import Field, IPvAnyNetwork, StringConstraints, ValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the deployed interpreter is 3.11
    import tomli as tomllib

__all__ = [
    "LOOPBACK",
    "ConfigError",
    "ConfigProblem",
    "ExplainedSettings",
    "Origin",
    "RiffPattern",
    "Settings",
    "explain_settings",
    "load_settings",
]

LOOPBACK: tuple[IPv4Network | IPv6Network, ...] = (
    IPv4Network("127.0.0.0/8"),
    IPv6Network("::1/128"),
)
"""The default allowlist: this machine only, whatever address the daemon is bound to."""

RiffPattern = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^A[A-Za-z]*(/A[A-Za-z]*)*$")
]
"""A riff pattern: one letter per phrase of a section, starting with ``A``; alternatives separated
by ``/`` take turns, section by section."""


Origin = Literal["flag", "env", "file", "default"]
"""Where a setting's value came from, in the order they win: a command-line flag, a
``METALOSC_*`` environment variable, the TOML file, the built-in default."""


@dataclass(frozen=True)
class ConfigProblem:
    """One unusable setting: its ``key`` (the TOML key / field name), where the value came from
    (``origin``; an unknown key's is where it was written), the value as given (``value``, text)
    and ``reason``."""

    key: str
    origin: Origin
    value: str
    reason: str


class ConfigError(Exception):
    """Settings that cannot be used; the message names the file or setting, and ``problems``
    lists each unusable value (empty when the file itself cannot be read)."""

    def __init__(self, message: str, problems: Sequence[ConfigProblem] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems)


class Settings(BaseSettings):
    """Everything ``metalosc serve`` can be told (TOML keys and env names use these field names)."""

    model_config = SettingsConfigDict(env_prefix="METALOSC_", extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", description="address to listen on")
    port: int = Field(9000, ge=0, le=65535, description="UDP port (0 = any free port)")
    models: Path = Field(Path("models/default"), description="bundle dir with guitar/ bass/ drums/")
    lookahead: float = Field(0.15, gt=0.0, le=5.0, description="seconds bundles are sent early")
    buffer_depth: int = Field(16, ge=1, le=1024, description="phrases kept decoded per instrument")
    batch_size: int = Field(16, ge=1, le=256, description="phrases per background decode")
    bass_candidates: int = Field(
        BASS_CANDIDATES,
        ge=1,
        le=16,
        description="bass phrases decoded per guitar one; the best chord fit plays",
    )
    lease: float = Field(60.0, gt=0.0, description="seconds a subscription lives without a message")
    seed: int | None = Field(None, description="random seed for reproducible music")
    bpm: float = Field(120.0, ge=40.0, le=320.0, description="tempo at start")
    tension: float = Field(0.5, ge=0.0, le=1.0, description="tension at start")
    temperature: float = Field(1.0, ge=0.05, le=2.0, description="sampling temperature at start")
    key: KeyName = Field("E", description="tonal centre at start (natural minor)")
    section_bars: Literal[4, 8, 16] = Field(8, description="bars in a section")
    riff_patterns: tuple[RiffPattern, RiffPattern, RiffPattern] = Field(
        ("AABA/AABa", "AABa/AABA", "AAAB/AABa"),
        description="the guitar's riff pattern for calm, middling and intense sections: a "
        "letter per phrase, cycled; upper case = a riff (repeats play it again), lower case = a "
        "variation of that riff; alternatives separated by / take turns",
    )
    transition: Transition = Field(
        "phrase", description="where tension and temperature changes land: phrase, bar, section"
    )
    tension_step: float = Field(
        0.1, gt=0.0, le=1.0, description="tension move that starts a new section at its boundary"
    )
    power_chords: bool = Field(True, description="voice guitar notes below C4 as power chords")
    guitar_min_notes: int = Field(
        2, ge=0, le=16, description="note onsets a guitar phrase needs in each bar to be played"
    )
    zeroconf: bool = Field(
        True,
        description="advertise the OSC port (_osc._udp) and the OSCQuery server (_oscjson._tcp) "
        "over Zeroconf on the interface of host",
    )
    zeroconf_name: str = Field(
        "MetalOSC on {hostname}",
        min_length=1,
        max_length=63,
        description="the advertised instance name; {hostname} is this machine's name",
    )
    oscquery: bool = Field(
        True, description="serve the address space, ranges and values as OSCQuery (HTTP/JSON)"
    )
    oscquery_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="TCP port of the OSCQuery server on host; default: the OSC port's number, "
        "or any free port when that is 0 or taken",
    )
    state_dir: Path | None = Field(
        None,
        description="where the daemon keeps what it learns (saved scenes); default: systemd's "
        "$STATE_DIRECTORY, else $XDG_STATE_HOME/metalosc, else ~/.local/state/metalosc",
    )
    scene_seed: Path | None = Field(
        None,
        description="a scene file (the format of the state directory's scenes.json) whose scenes "
        "the daemon starts with; a saved scene of the same name wins",
    )
    autoplay: bool = Field(True, description="start playing once ready")
    grace: float = Field(5.0, gt=0.0, description="seconds a graceful stop may take")
    allow: tuple[IPvAnyNetwork, ...] = Field(
        LOOPBACK,
        description="networks (CIDR) whose peers may control the daemon and subscribe; datagrams "
        "from any other address are dropped unanswered (and counted)",
    )
    max_packet: int = Field(
        8192,
        ge=64,
        le=65507,
        description="bytes a client datagram may have; a longer one is refused unread",
    )
    max_subscribers: int = Field(
        64, ge=1, le=4096, description="subscriptions at once; the next one is refused"
    )
    max_scenes: int = Field(
        64, ge=1, le=4096, description="saved scenes; a new name beyond is refused"
    )
    max_name: int = Field(
        32, ge=1, le=32, description="characters in a scene name or a section label"
    )
    input_rate: float = Field(
        1000.0,
        gt=0.0,
        description="datagrams per second one peer may send; beyond its burst the excess is shed "
        "before it is parsed (counted)",
    )
    input_burst: int = Field(500, ge=1, description="datagrams in a burst per peer")
    error_rate: float = Field(5.0, gt=0.0, description="/metal/error replies per second per peer")
    error_burst: int = Field(10, ge=1, description="/metal/error replies in a burst per peer")
    error_rate_total: float = Field(
        50.0, gt=0.0, description="/metal/error replies per second to all peers together"
    )
    error_burst_total: int = Field(
        100, ge=1, description="/metal/error replies in a burst to all peers together"
    )
    decode_timeout: float = Field(
        60.0,
        gt=0.0,
        description="seconds a model may take to answer one decode; past that its worker is "
        "restarted (the music plays on from the buffers)",
    )
    bundle_horizon: float = Field(
        60.0,
        gt=0.0,
        le=3600.0,
        description="seconds ahead a client's bundle may be timetagged; later ones are refused",
    )
    bundle_capacity: int = Field(
        256, ge=1, le=65536, description="client bundles that may wait for their timetag at once"
    )
    metrics: bool = Field(True, description="serve Prometheus metrics over HTTP")
    metrics_host: str = Field(
        "127.0.0.1", description="address the metrics endpoint listens on (TCP)"
    )
    metrics_port: int = Field(
        9410, ge=0, le=65535, description="TCP port of the metrics endpoint (0 = any free port)"
    )
    model_execution: Literal["process", "thread"] = Field(
        "process",
        description="run each model in a worker process (keeps its Python off the event loop's "
        "GIL) or in a worker thread of the daemon",
    )
    model_backend: Literal["auto", "onnx", "tf"] = Field(
        "auto",
        description="decode with each bundle's ONNX decoder on ONNX Runtime (no TensorFlow) or "
        "its TF checkpoint; auto = ONNX when the bundle has one",
    )
    realtime_priority: int = Field(
        10,
        ge=0,
        le=99,
        description="SCHED_FIFO priority of the event-loop thread (0 = off); needs LimitRTPRIO= "
        "or CAP_SYS_NICE, else a warning and ordinary scheduling",
    )
    log_format: Literal["auto", "console", "json"] = Field(
        "auto", description="auto = console on a TTY, JSON otherwise"
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    def state_path(self) -> Path:
        """The state directory: ``state_dir``, else systemd's ``$STATE_DIRECTORY`` (its first
        entry), else ``$XDG_STATE_HOME/metalosc``, else ``~/.local/state/metalosc``."""
        if self.state_dir is not None:
            return self.state_dir
        systemd = os.environ.get("STATE_DIRECTORY", "")
        if systemd:
            return Path(systemd.split(":")[0])
        xdg = os.environ.get("XDG_STATE_HOME", "")
        return (Path(xdg) if xdg else Path.home() / ".local" / "state") / "metalosc"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then ``METALOSC_*`` variables; no dotenv or secrets files (the TOML file is
        added by :func:`load_settings`)."""
        return (init_settings, env_settings)


def load_settings(config_file: Path | None = None, **flags: Any) -> Settings:
    """Settings from ``flags`` (``None`` = not given), env, then ``config_file`` if it exists.

    A missing config file is fine (the systemd unit always names ``/etc/metalosc/metalosc.toml``);
    a broken one is a ``ConfigError`` naming it, and a bad value one naming the setting, where
    it came from and why.
    """
    return explain_settings(config_file, **flags).settings


@dataclass(frozen=True)
class ExplainedSettings:
    """Settings and, for every field, where its value came from (``origins``); ``file`` is the
    TOML file that was read (``None`` when there was none)."""

    settings: Settings
    origins: Mapping[str, Origin]
    file: Path | None


def explain_settings(config_file: Path | None = None, **flags: Any) -> ExplainedSettings:
    """:func:`load_settings`, also saying where each value came from (``metalosc config show``).

    Raises ``ConfigError`` like :func:`load_settings`.
    """
    given = {k: v for k, v in flags.items() if v is not None}
    toml_file = config_file if config_file is not None and config_file.is_file() else None
    if toml_file is not None:
        try:
            tomllib.loads(toml_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{toml_file}: not a readable TOML file ({exc})") from exc

    class _FromFile(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
            if toml_file is not None:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
            return tuple(sources)

    # What each source says, asked of the same pydantic-settings sources the merge uses, so the
    # origin shown is the one that won.
    from_env = EnvSettingsSource(Settings)()
    from_file = (
        TomlConfigSettingsSource(Settings, toml_file=toml_file)() if toml_file is not None else {}
    )

    def origin(key: str) -> Origin:
        if key in given:
            return "flag"
        if key in from_env:
            return "env"
        if key in from_file:
            return "file"
        return "default"

    try:
        merged = _FromFile(**given)
    except ValidationError as exc:
        problems = [_problem(err, origin) for err in exc.errors()]
        described = "; ".join(_describe(p, toml_file) for p in problems)
        raise ConfigError(f"invalid settings: {described}", problems) from exc
    settings = Settings.model_validate(merged.model_dump())
    origins = {key: origin(key) for key in Settings.model_fields}
    return ExplainedSettings(settings, origins, toml_file)


def _problem(error: Any, origin: Any) -> ConfigProblem:
    loc = error.get("loc") or ("?",)
    key = str(loc[0])
    reason = str(error.get("msg", "invalid"))
    if error.get("type") == "extra_forbidden":
        reason = "not a setting"
    elif len(loc) > 1:
        reason = f"{'.'.join(str(p) for p in loc[1:])}: {reason}"
    value = error.get("input")
    shown = value if isinstance(value, str) else repr(value)
    return ConfigProblem(key, origin(key), shown[:80], reason)


def _describe(problem: ConfigProblem, toml_file: Path | None) -> str:
    where = {
        "flag": f"flag --{problem.key.replace('_', '-')}",
        "env": f"environment METALOSC_{problem.key.upper()}",
        "file": f"config file {toml_file}",
        "default": "default",
    }[problem.origin]
    return f"{problem.key} = {problem.value} ({where}): {problem.reason}"

"""The metrics endpoint: what a Prometheus scrape of a playing daemon returns.

Rules: like ``test_server_app``, the daemon runs on instant fake models, real loopback sockets and
trio's real clock (the endpoint is ``prometheus_client``'s HTTP server, on threads of its own);
every wait is bounded by ``trio.fail_after`` and no duration is asserted. Scrapes go through
``urllib`` in a worker thread and are parsed with ``prometheus_client``'s own parser.
"""

from __future__ import annotations

import os
import re
import socket
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
from metalosc.protocol import Error, ProtocolError, State, StateRequest, Subscribe, decode_packet
from metalosc.server import RunningServer, Settings
from metalosc.server._control import reject_reason
from metalosc.server._prometheus import process_families
from metalosc.server.testing import FAST_SETTINGS, FakeModelSource, UdpClient, open_server
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

BASE_SETTINGS: dict[str, Any] = {**FAST_SETTINGS, "metrics_port": 0}

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(server: RunningServer) -> tuple[str, Samples]:
    """The endpoint's text and its samples by (name, sorted labels)."""
    assert server.metrics_address is not None
    host, port = server.metrics_address
    url = f"http://{host}:{port}/metrics"

    def get() -> str:
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            return str(response.read().decode())

    text = await trio.to_thread.run_sync(get)
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


@pytest.fixture
async def server(fake_source: FakeModelSource) -> AsyncIterator[RunningServer]:
    async with open_server(Settings(**BASE_SETTINGS), executors=fake_source) as running:
        yield running


async def test_a_scrape_of_a_playing_daemon_has_every_series_with_sensible_values(
    server: RunningServer,
) -> None:
    async with UdpClient.open(server.address) as client:
        await client.send(Subscribe())
        await client.send(b"/metal/nope\x00,\x00\x00\x00")  # an address the daemon lacks
        await client.send(b"/metal/tension\x00\x00,s\x00\x00hi\x00\x00")  # wrong type
        await client.phrases(3)
        text, samples = await scrape(server)

    assert value(samples, "metalosc_ready") == 1
    assert value(samples, "metalosc_startup_seconds") > 0
    assert value(samples, "metalosc_packets_received_total") == 3
    assert value(samples, "metalosc_packets_sent_total") > 10  # state, errors and many cues
    assert value(samples, "metalosc_packets_rejected_total", reason="unknown_address") == 1
    assert value(samples, "metalosc_packets_rejected_total", reason="invalid_arguments") == 1
    assert value(samples, "metalosc_subscribers", mode="bundle") == 1
    assert value(samples, "metalosc_subscribers", mode="immediate") == 0
    assert value(samples, "metalosc_late_sends_total") == 0
    assert value(samples, "metalosc_cues_sent_total") > 0
    for instrument in ("guitar", "bass", "drums"):
        assert 0 <= value(samples, "metalosc_buffer_phrases", instrument=instrument) <= 8
        assert value(samples, "metalosc_buffer_target_phrases", instrument=instrument) == 4
        assert value(samples, "metalosc_buffer_underruns_total", instrument=instrument) >= 0
        decoded = value(samples, "metalosc_phrases_decoded_total", instrument=instrument)
        assert decoded >= 4
        decodes = value(samples, "metalosc_decode_seconds_count", instrument=instrument)
        assert decodes >= 1
        assert value(samples, "metalosc_decode_seconds_bucket", instrument=instrument, le="+Inf")
        assert value(samples, "metalosc_decode_seconds_sum", instrument=instrument) >= 0
    assert value(samples, "metalosc_control_round_trip_seconds_count") == 3
    assert value(samples, "metalosc_control_round_trip_seconds_bucket", le="+Inf") == 3
    assert value(samples, "metalosc_playing") == 1
    assert value(samples, "metalosc_tempo_beats_per_minute") == 300
    assert value(samples, "metalosc_tension") == 0.5
    assert value(samples, "metalosc_sampling_temperature") == 1.0
    assert value(samples, "metalosc_section_index") >= 0
    section = [k for k in samples if k[0] == "metalosc_section_info"]
    assert dict(section[0][1])["key"] == "E"
    assert value(samples, "metalosc_key_info", key="E", target="E") == 1
    assert value(samples, "metalosc_process_resident_memory_bytes", process="daemon") > 1e6
    assert value(samples, "metalosc_process_proportional_memory_bytes", process="daemon") > 1e6
    assert value(samples, "metalosc_process_cpu_seconds_total", process="daemon") > 0
    # Prometheus' conventions: counters end in _total, durations are seconds, no other units.
    for match in re.finditer(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE):
        name, kind = match.groups()
        assert name.startswith("metalosc_")
        assert not re.search(r"_(ms|milliseconds|minutes|kib|mib|percent)(_|$)", name), name
        if kind == "counter":
            assert name.endswith("_total") or f"\n{name}_total" in text, name


async def scrape_until(server: RunningServer, name: str, wanted: float, **labels: str) -> Samples:
    """Scrape until the sample ``name{labels}`` reaches ``wanted`` (datagrams the client sent
    are handled on the trio thread meanwhile); at most 10 s."""
    with trio.fail_after(10):
        while True:
            _, samples = await scrape(server)
            if samples.get((name, tuple(sorted(labels.items()))), 0) >= wanted:
                return samples
            await trio.sleep(0.02)


async def test_datagrams_dropped_or_refused_unread_are_rejected_packets_with_their_reason(
    fake_source: FakeModelSource,
) -> None:
    """Beyond the decoder's reasons: a datagram over ``max_packet`` (answered), one beyond the
    peer's input budget (shed unanswered) and one from outside the allowlist (denied)."""
    rejected = "metalosc_packets_rejected_total"
    settings = Settings(**BASE_SETTINGS, max_packet=64, input_rate=0.001, input_burst=3)
    async with (
        open_server(settings, executors=fake_source) as server,
        UdpClient.open(server.address) as client,
    ):
        await client.send(b"/metal/state\x00\x00\x00\x00" + b"\x00" * 100)
        await client.expect(Error)
        await client.send(Subscribe())
        await client.expect(State)
        await client.send(StateRequest())
        await client.expect(State)
        for _ in range(2):  # the budget of 3 is spent, and refills once in 1000 s
            await client.send(StateRequest())
        samples = await scrape_until(server, rejected, 2, reason="shed")
    assert value(samples, rejected, reason="oversize") == 1
    assert value(samples, rejected, reason="shed") == 2
    assert value(samples, rejected, reason="denied") == 0
    assert value(samples, "metalosc_packets_received_total") == 5

    elsewhere = Settings(**BASE_SETTINGS, allow=("10.0.0.0/8",))
    async with (
        open_server(elsewhere, executors=fake_source) as server,
        UdpClient.open(server.address) as client,
    ):
        await client.send(Subscribe())
        samples = await scrape_until(server, rejected, 1, reason="denied")
    assert value(samples, "metalosc_subscribers", mode="bundle") == 0
    assert value(samples, rejected, reason="shed") == 0


async def test_counts_added_later_are_exported_with_prometheus_names(
    server: RunningServer,
) -> None:
    """A counter added to :class:`Metrics` by any part of the daemon shows up as
    ``metalosc_<name>_total`` without a line of exporter code."""
    server.metrics.inc("floods_dropped", 3)
    server.metrics.inc("not a metric name")  # ignored rather than breaking the scrape
    _, samples = await scrape(server)
    assert value(samples, "metalosc_floods_dropped_total") == 3


async def test_the_endpoint_is_off_by_config_and_a_busy_port_does_not_stop_the_music(
    fake_source: FakeModelSource,
) -> None:
    async with open_server(Settings(**BASE_SETTINGS, metrics=False), executors=fake_source) as off:
        assert off.metrics_address is None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        with capture_logs() as logs:
            settings = Settings(**{**BASE_SETTINGS, "metrics_port": busy})
            async with open_server(settings, executors=fake_source) as running:
                assert running.metrics_address is None
                assert running.transport.playing
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["metrics_unavailable"]


def test_the_metrics_endpoint_listens_on_loopback_by_default() -> None:
    fields = Settings.model_fields
    assert fields["metrics"].default is True
    assert fields["metrics_host"].default == "127.0.0.1"
    assert fields["metrics_port"].default == 9410


@pytest.mark.parametrize(
    ("packet", "reason"),
    [
        (b"", "malformed"),
        (b"not osc", "malformed"),
        (b"/metal/tension\x00\x00,f\x00\x00\x3f", "malformed"),  # cut short
        (b"/metal/nope\x00,\x00\x00\x00", "unknown_address"),
        (b"/metal/t?nsionx\x00,\x00\x00\x00", "unknown_address"),
        (b"/metal/tension\x00\x00,s\x00\x00hi\x00\x00", "invalid_arguments"),
        (b"/metal/tempo\x00\x00\x00\x00,f\x00\x00\x47\x00\x00\x00", "invalid_arguments"),
    ],
)
def test_each_refused_packet_gets_a_reason_from_a_short_list(packet: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError) as refused:
        decode_packet(packet)
    assert reject_reason(refused.value) == reason


def test_process_memory_is_read_from_per_process_files_only(tmp_path: Path) -> None:
    """Only ``/proc/<pid>/`` files: the unit's ``ProtectProc=invisible`` leaves those, and a
    process that is gone is left out rather than failing the scrape."""
    families = process_families({"daemon": os.getpid(), "gone": 2**22 + 7})
    names = {family.name: family for family in families}
    rss = names["metalosc_process_resident_memory_bytes"].samples
    assert [s.labels["process"] for s in rss] == ["daemon"]
    assert rss[0].value > 1e6
    assert process_families({"daemon": os.getpid()}, proc=tmp_path)[0].samples == []

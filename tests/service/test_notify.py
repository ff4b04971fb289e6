"""SystemdNotifier against a real AF_UNIX datagram socket playing systemd's part."""

from __future__ import annotations

import logging
import os
import time

import pytest

from edge_daemon.service.notify import SystemdNotifier, notify_address, watchdog_interval


def test_without_notify_socket_everything_is_a_quiet_no_op(caplog):
    notifier = SystemdNotifier(environ={})
    assert not notifier.enabled
    assert notifier.watchdog_interval is None
    assert notifier.ready("up") is False
    assert notifier.watchdog() is False
    assert notifier.stopping() is False
    assert caplog.records == []


def test_ready_and_status_arrive_as_one_datagram(notify_listener):
    notifier = SystemdNotifier(environ={"NOTIFY_SOCKET": notify_listener.address})
    assert notifier.enabled
    assert notifier.ready(status="2 cameras, MQTT connected")
    assert notifier.status("front: 9.8 fps\nback: 0 fps")  # a newline must not split it
    got = notify_listener.collect(2, count=2)
    assert [n.fields for n in got] == [
        {"READY": "1", "STATUS": "2 cameras, MQTT connected"},
        {"STATUS": "front: 9.8 fps back: 0 fps"},
    ]


def test_abstract_namespace_socket(abstract_notify_listener):
    listener = abstract_notify_listener
    notifier = SystemdNotifier(environ={"NOTIFY_SOCKET": listener.address})
    assert notifier.watchdog()
    assert [n.fields for n in listener.collect(2, count=1)] == [{"WATCHDOG": "1"}]


def test_reloading_carries_the_monotonic_clock(notify_listener):
    notifier = SystemdNotifier(environ={"NOTIFY_SOCKET": notify_listener.address})
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    notifier.reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    notifier.ready()
    first, second = notify_listener.collect(2, count=2)
    assert first.fields["RELOADING"] == "1"
    assert before <= int(first.fields["MONOTONIC_USEC"]) <= after
    assert second.fields == {"READY": "1"}


def test_stopping_and_extend_timeout(notify_listener):
    notifier = SystemdNotifier(environ={"NOTIFY_SOCKET": notify_listener.address})
    notifier.extend_timeout(12.5)
    notifier.stopping(status="shutting down")
    got = [n.fields for n in notify_listener.collect(2, count=2)]
    assert got == [{"EXTEND_TIMEOUT_USEC": "12500000"},
                   {"STOPPING": "1", "STATUS": "shutting down"}]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "500000", "WATCHDOG_PID": str(os.getpid())}, 0.5),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_from_the_environment(environ, expected):
    assert watchdog_interval(environ, os.getpid()) == expected


def test_watchdog_interval_is_read_only_with_a_socket(notify_listener):
    env = {"NOTIFY_SOCKET": notify_listener.address, "WATCHDOG_USEC": "4000000"}
    assert SystemdNotifier(environ=env).watchdog_interval == 4.0
    assert SystemdNotifier(environ={"WATCHDOG_USEC": "4000000"}).watchdog_interval is None


def test_a_vanished_socket_is_warned_about_once_and_never_raises(notify_listener, caplog):
    notifier = SystemdNotifier(environ={"NOTIFY_SOCKET": notify_listener.address})
    notify_listener.close()
    os.unlink(notify_listener.address)
    with caplog.at_level(logging.WARNING, logger="edge_daemon.service.notify"):
        assert notifier.watchdog() is False
        assert notifier.watchdog() is False
    assert len(caplog.records) == 1
    assert "cannot notify systemd" in caplog.records[0].getMessage()


def test_addresses():
    assert notify_address("/run/systemd/notify") == "/run/systemd/notify"
    assert notify_address("@abstract") == "\0abstract"
    assert notify_address("") is None
    assert notify_address("vsock:2:1234") is None

"""`emotion-edge probe` on nodes that are not cameras: reported, never a crash."""

from __future__ import annotations

from edge_daemon.probe import format_report, probe_v4l2, run_probe


def test_a_node_that_gives_no_frames_is_listed_as_not_opened(tmp_path):
    for name in ("video0", "video10", "video2"):
        (tmp_path / name).write_bytes(b"not a device")
    found = probe_v4l2(str(tmp_path / "video*"))
    assert [p.device.rsplit("/", 1)[1] for p in found] == ["video0", "video2", "video10"]
    assert not any(p.opened for p in found)


def test_the_text_report_names_each_finding(tmp_path):
    report = run_probe(str(tmp_path / "video*"))
    text = format_report(report)
    assert "none found" in text and "CPUExecutionProvider" in text
    assert "picamera2:" in text and "mediapipe:" in text

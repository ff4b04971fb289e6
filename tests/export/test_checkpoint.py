"""Loading users' state_dict files: devices, wrappers, and every kind of wrong file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from edge_models.archs import get_arch
from edge_models.checkpoint import check_fit, load_state_dict
from edge_models.errors import ExportError
from torch import nn

pytestmark = pytest.mark.export


def test_a_file_saved_on_a_gpu_loads_on_the_cpu(seed_state_dict: Path):
    if not torch.cuda.is_available():
        # Proof that the file really records CUDA storages: torch alone refuses it here.
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(seed_state_dict, weights_only=True)
    state = load_state_dict(seed_state_dict)
    assert len(state) == 1120
    assert all(t.device.type == "cpu" for t in state.values())


def test_missing_file(tmp_path: Path):
    with pytest.raises(ExportError, match=r"model\.th: no such file"):
        load_state_dict(tmp_path / "model.th")


def test_folder(tmp_path: Path):
    with pytest.raises(ExportError, match="is a folder"):
        load_state_dict(tmp_path)


def test_text_file(tmp_path: Path):
    path = tmp_path / "notes.th"
    path.write_text("these are not weights\n")
    with pytest.raises(ExportError, match="not a PyTorch file"):
        load_state_dict(path)


def test_pickled_list(tmp_path: Path):
    path = tmp_path / "list.th"
    torch.save([torch.zeros(2), torch.ones(2)], path)
    with pytest.raises(ExportError, match="holds a list, not a state_dict"):
        load_state_dict(path)


class WholeModel(nn.Module):
    """A module saved whole (torch.save(model)) instead of its state_dict."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2, 2)


def test_whole_saved_module(tmp_path: Path):
    path = tmp_path / "whole.th"
    torch.save(WholeModel(), path)
    with pytest.raises(ExportError, match=r"pickled Python objects .*model\.state_dict\(\)"):
        load_state_dict(path)


def test_dict_of_non_tensors(tmp_path: Path):
    path = tmp_path / "meta.th"
    torch.save({"epoch": 30, "lr": 0.001}, path)
    with pytest.raises(ExportError, match=r"not a state_dict .*keys: epoch, lr"):
        load_state_dict(path)


def test_training_checkpoint_and_data_parallel_prefix_are_unwrapped(tmp_path: Path):
    inner = {"module.fc.weight": torch.zeros(2, 2), "module.fc.bias": torch.zeros(2)}
    path = tmp_path / "ckpt.th"
    torch.save({"epoch": 3, "model_state_dict": inner}, path)
    assert sorted(load_state_dict(path)) == ["fc.bias", "fc.weight"]


def test_fit_names_missing_unexpected_and_differing_keys_in_plain_words():
    model = get_arch("mini-xception").build(7, 1)
    state = dict(model.state_dict())
    for key in [k for k in state if k.startswith("blocks.3.")]:
        del state[key]  # many missing: the message names three and counts the rest
    state["extra.weight"] = torch.zeros(1)
    state["head.weight"] = torch.zeros(7, 64, 3, 3)
    with pytest.raises(ExportError) as err:
        check_fit(model, state, "mini-xception")
    text = str(err.value)
    assert "\n" not in text
    assert "does not fit mini-xception" in text
    missing = sum(k.startswith("blocks.3.") for k in model.state_dict())
    assert f"{missing} keys missing (blocks.3." in text and f"and {missing - 3} more" in text
    assert "1 unexpected key (extra.weight)" in text
    assert "head.weight is [7, 64, 3, 3] in the file but [7, 128, 3, 3] in the arch" in text


def test_seed_file_given_to_the_wrong_arch_gets_a_hint(seed_state_dict: Path):
    state = load_state_dict(seed_state_dict)
    with pytest.raises(ExportError, match="try --arch seed-efficientnet-v2-m"):
        check_fit(get_arch("mini-xception").build(7, 1), state, "mini-xception")


def test_truncated_file(tmp_path: Path):
    path = tmp_path / "cut.th"
    torch.save({"w": torch.zeros(1000)}, path)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(ExportError, match="not a readable PyTorch file"):
        load_state_dict(path)

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


@pytest.mark.parametrize("keep", [500, 0.5, -30])
def test_truncated_file_is_named_in_one_complete_line(tmp_path: Path, keep):
    path = tmp_path / "cut.th"
    torch.save({"w": torch.zeros(100_000)}, path)
    data = path.read_bytes()
    cut = int(len(data) * keep) if isinstance(keep, float) else keep
    path.write_bytes(data[:cut])
    with pytest.raises(ExportError) as caught:
        load_state_dict(path)
    text = str(caught.value)
    assert "cut short or damaged" in text and "was the copy interrupted?)" in text
    assert "\n" not in text and text.endswith(")")  # whole, not cut mid-sentence


def test_a_damaged_legacy_file_says_so(tmp_path: Path):
    path = tmp_path / "old.pt"
    path.write_bytes(b"\x80\x02junk that is not a pickle")
    with pytest.raises(ExportError, match=r"legacy \(pickle\) format is damaged or cut short"):
        load_state_dict(path)


def test_a_file_of_the_other_arch_names_the_right_one():
    mini = get_arch("mini-xception").build(7, 1).state_dict()
    with pytest.raises(ExportError, match=r"its keys are those of mini-xception: try --arch "
                                          r"mini-xception$"):
        check_fit(get_arch("seed-efficientnet-v2-m").build(6, 3), mini, "seed-efficientnet-v2-m")


def test_a_file_of_another_size_of_the_given_arch_is_not_sent_to_the_same_arch():
    partial = dict(list(get_arch("mini-xception").build(7, 1).state_dict().items())[:-4])
    with pytest.raises(ExportError) as caught:
        check_fit(get_arch("mini-xception").build(7, 1), partial, "mini-xception")
    assert "try --arch" not in str(caught.value)
    assert "another size or version of the network" in str(caught.value)

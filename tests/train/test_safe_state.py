"""DeepSpeed state as safetensors + a JSON tree: every value DeepSpeed stores round-trips,
tied tensors are stored once, unknown objects are refused when saving, and a pickle is
refused when loading (so a checkpoint from S3 can never run code)."""

from collections import OrderedDict, namedtuple

import pytest
import torch

from rlsd.train.safe_state import UnsafeStateError, load_state, save_state


def test_state_round_trips(tmp_path):
    from deepspeed.runtime.fp16.loss_scaler import LossScaler
    from deepspeed.utils.tensor_fragment import fragment_address

    shared = torch.arange(6, dtype=torch.float32)
    state = {
        "optimizer_state_dict": {"state": {0: {"exp_avg": torch.ones(3), "step": 4}},
                                 "param_groups": [{"lr": 1e-6, "betas": (0.9, 0.999),
                                                   "params": [0]}]},
        "module": OrderedDict([("embed.weight", shared), ("lm_head.weight", shared)]),
        "loss_scaler": LossScaler(scale=1),
        "slices": [{"w": fragment_address(numel=6, start=0)}],
        "param_shapes": [OrderedDict([("w", torch.Size([2, 3]))])],
        "dtype": torch.bfloat16, "inf": float("inf"), "none": None, "flag": True,
        "ds_version": "0.19.8", "empty": torch.zeros(0),
    }
    path = tmp_path / "state.pt"
    save_state(state, str(path))
    back = load_state(str(path))
    assert back["optimizer_state_dict"]["state"][0]["step"] == 4
    assert torch.equal(back["optimizer_state_dict"]["state"][0]["exp_avg"], torch.ones(3))
    assert back["optimizer_state_dict"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert isinstance(back["module"], OrderedDict)
    assert torch.equal(back["module"]["lm_head.weight"], shared)
    assert back["module"]["embed.weight"] is back["module"]["lm_head.weight"]  # stored once
    assert isinstance(back["loss_scaler"], LossScaler) and back["loss_scaler"].cur_scale == 1
    assert back["slices"][0]["w"] == fragment_address(numel=6, start=0)
    assert back["param_shapes"][0]["w"] == torch.Size([2, 3])
    assert back["dtype"] is torch.bfloat16 and back["inf"] == float("inf")
    assert back["none"] is None and back["flag"] is True and back["empty"].numel() == 0


def test_unknown_objects_are_not_written(tmp_path):
    class Gadget:
        pass

    with pytest.raises(UnsafeStateError, match=r"state\['x'\]: cannot store a .*Gadget"):
        save_state({"x": Gadget()}, str(tmp_path / "a"))
    Point = namedtuple("Point", "x y")
    with pytest.raises(UnsafeStateError, match="not an allowed object"):
        save_state({"p": Point(1, 2)}, str(tmp_path / "b"))


def test_a_pickle_is_refused(tmp_path):
    path = tmp_path / "old_optim_states.pt"
    torch.save({"step": 1}, path)  # what DeepSpeed's own engine writes
    with pytest.raises(UnsafeStateError, match="pickled DeepSpeed state"):
        load_state(str(path))

"""pointcept.utils.timing and the optional phase timer of train_step and DOS.forward: phases are
recorded where they run and the step's results are the same with and without a timer."""

import time

import pytest
import torch
from test_dos_model import MASK, make_batch, make_model

from pointcept.engines import train_step
from pointcept.engines.amp import build_grad_scaler
from pointcept.utils.timing import PhaseTimer, phase


def test_phase_without_timer_is_one_shared_no_op():
    assert phase(None, "a") is phase(None, "b")
    with phase(None, "a"):
        pass


def test_phases_nest_accumulate_and_survive_exceptions():
    timer = PhaseTimer()
    for _ in range(2):
        with timer.phase("outer"):
            with phase(timer, "inner"):
                time.sleep(0.01)
    assert set(timer.seconds) == {"outer", "inner"}
    assert timer.seconds["outer"] >= timer.seconds["inner"] >= 0.02
    with pytest.raises(RuntimeError, match="boom"), timer.phase("failing"):
        raise RuntimeError("boom")
    assert timer.seconds["failing"] > 0
    calls = []
    synced = PhaseTimer(synchronize=lambda: calls.append(1))
    with synced.phase("x"):
        pass
    assert len(calls) == 2


def dos_step(timer):
    model = make_model().train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scaler = build_grad_scaler(torch.device("cpu"), None)
    torch.manual_seed(5)
    output = train_step(
        model,
        make_batch(),
        optimizer,
        scaler,
        device=torch.device("cpu"),
        clip_grad=1.0,
        forward_kwargs=dict(MASK, timer=timer) if timer else dict(MASK),
        timer=timer,
    )
    return output, model


def test_train_step_and_dos_forward_time_their_phases_without_changing_the_step():
    timer = PhaseTimer()
    timed, timed_model = dos_step(timer)
    plain, plain_model = dos_step(None)
    assert float(timed["loss"]) == float(plain["loss"])
    for a, b in zip(timed_model.state_dict().values(), plain_model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    inner = ("teacher_forward", "student_forward", "sinkhorn_loss")
    assert set(timer.seconds) == {"to_device", "forward", "backward", "optimizer", *inner}
    assert all(v > 0 for v in timer.seconds.values())
    # DOS's phases run inside train_step's forward.
    assert sum(timer.seconds[k] for k in inner) <= timer.seconds["forward"]

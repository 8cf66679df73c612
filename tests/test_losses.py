import itertools

import pytest
import torch
import torch.nn.functional as F

from pointcept.models import CrossEntropyLoss, LovaszLoss, build_loss
from pointcept.models.losses import lovasz_grad, lovasz_softmax


def jaccard_loss_of_set(errors_set: set[int], gt: list[int]) -> float:
    """Delta_J(M) = |M| / |gt ∪ M| for the set M of mispredicted points (Berman et al., Eq. 4)."""
    fg = {i for i, g in enumerate(gt) if g}
    union = fg | errors_set
    return len(errors_set) / len(union) if union else 0.0


def lovasz_extension_brute_force(errors: list[float], gt: list[int]) -> float:
    """Lovasz extension as the integral over thresholds t of Delta_J({i : m_i >= t}), m in [0, 1]."""
    levels = sorted(set(errors) | {0.0}, reverse=True)
    total = 0.0
    for hi, lo in zip(levels[:-1], levels[1:]):
        above = {i for i, e in enumerate(errors) if e >= hi}
        total += (hi - lo) * jaccard_loss_of_set(above, gt)
    return total


def test_lovasz_extension_matches_brute_force_for_one_class(device):
    torch.manual_seed(0)
    for _ in range(20):
        n = int(torch.randint(1, 8, ()))
        gt = torch.randint(0, 2, (n,)).float().to(device)
        errors = torch.rand(n, dtype=torch.float64).to(device)
        errors_sorted, perm = torch.sort(errors, descending=True)
        fast = torch.dot(errors_sorted, lovasz_grad(gt[perm].double())).item()
        assert fast == pytest.approx(
            lovasz_extension_brute_force(errors.tolist(), gt.int().tolist()), abs=1e-12
        )


def test_lovasz_extension_interpolates_the_set_function_at_vertices(device):
    gt = [1, 0, 1, 1, 0]
    gt_tensor = torch.tensor(gt, dtype=torch.float64, device=device)
    for bits in itertools.product([0.0, 1.0], repeat=len(gt)):
        errors = torch.tensor(bits, dtype=torch.float64, device=device)
        errors_sorted, perm = torch.sort(errors, descending=True)
        value = torch.dot(errors_sorted, lovasz_grad(gt_tensor[perm])).item()
        expected = jaccard_loss_of_set({i for i, b in enumerate(bits) if b}, gt)
        assert value == pytest.approx(expected, abs=1e-12)


def test_lovasz_softmax_averages_present_classes(device):
    torch.manual_seed(1)
    probs = torch.rand(9, 4, dtype=torch.float64).softmax(1).to(device)
    target = torch.tensor([0, 0, 2, 2, 2, 3, 0, 3, 2], device=device)
    expected = []
    for c in (0, 2, 3):
        fg = (target == c).int().tolist()
        errors = [abs(f - p) for f, p in zip(fg, probs[:, c].tolist())]
        expected.append(lovasz_extension_brute_force(errors, fg))
    assert lovasz_softmax(probs, target).item() == pytest.approx(sum(expected) / 3, abs=1e-12)


def test_lovasz_loss_ignores_points_and_weights(device):
    torch.manual_seed(2)
    logits = torch.randn(12, 3).to(device).requires_grad_()
    target = torch.tensor([0, 1, 2, -1, 1, 1, -1, 0, 2, 2, 1, 0], device=device)
    valid = target != -1
    loss = LovaszLoss(ignore_index=-1, loss_weight=2.0)(logits, target)
    expected = 2.0 * lovasz_softmax(logits[valid].softmax(1), target[valid])
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert torch.all(logits.grad[~valid] == 0) and logits.grad[valid].abs().sum() > 0
    # A perfect, confident prediction has (almost) zero loss.
    perfect = F.one_hot(target[valid], 3).float() * 50
    assert LovaszLoss()(perfect, target[valid]).item() < 1e-6


def test_cross_entropy_ignore_index_and_class_weight(device):
    torch.manual_seed(3)
    logits = torch.randn(10, 3).to(device)
    target = torch.tensor([0, 1, 2, -1, 1, 0, -1, 2, 2, 1], device=device)
    valid = target != -1
    weight = [1.0, 2.0, 0.5]
    loss = build_loss(dict(type="CrossEntropyLoss", weight=weight, loss_weight=0.5))(logits, target)
    w = torch.tensor(weight, device=device)[target[valid]]
    nll = -logits[valid].log_softmax(1).gather(1, target[valid, None]).squeeze(1)
    torch.testing.assert_close(loss, 0.5 * (w * nll).sum() / w.sum())


@pytest.mark.parametrize("criterion", [CrossEntropyLoss(), LovaszLoss()])
def test_all_ignored_gives_zero_with_a_graph(criterion, device):
    logits = torch.randn(4, 3, device=device, requires_grad=True)
    loss = criterion(logits, torch.full((4,), -1, device=device))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.all(logits.grad == 0)

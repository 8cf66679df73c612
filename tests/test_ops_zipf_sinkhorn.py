"""zipf_sinkhorn: reference against textbook Sinkhorn-Knopp and the Zipf marginals, fused parity."""

import pytest
import torch

import pointcept.ops as ops
from pointcept.ops import reference


def sinkhorn_knopp(logits: torch.Tensor, n_iter: int) -> torch.Tensor:
    """Textbook uniform Sinkhorn-Knopp of one cloud in float64 (small logits only)."""
    q = torch.exp(logits.double())
    n, k = q.shape
    for _ in range(n_iter):
        q = q / q.sum(dim=1, keepdim=True) / n
        q = q / q.sum(dim=0, keepdim=True) / k
    return q / q.sum(dim=0, keepdim=True)


def make_logits(n: int, k: int, clouds: int, scale: float, seed: int, device: torch.device):
    """Random logits drawn on the CPU (same values on every device), then moved to ``device``."""
    generator = torch.Generator().manual_seed(seed)
    cut = torch.sort(torch.randint(0, n + 1, (clouds - 1,), generator=generator)).values
    logits = torch.randn(n, k, generator=generator) * scale
    return logits.to(device), torch.cat([cut, torch.tensor([n])]).to(device)


def skip_without_kernel(backend: str, request) -> None:
    if backend == "fused":
        request.getfixturevalue("fused_device")  # skips without kernels for the device


@pytest.mark.parametrize("backend", ["reference", "fused"])
def test_alpha_zero_is_sinkhorn_knopp(backend, device, request):
    skip_without_kernel(backend, request)
    logits, offset = make_logits(50, 7, 2, scale=3.0, seed=0, device=device)
    with ops.use_backend(backend):
        target = ops.zipf_sinkhorn(logits.double(), offset, alpha=0.0, n_iter=4)
    start = 0
    for end in offset.tolist():
        torch.testing.assert_close(target[start:end], sinkhorn_knopp(logits[start:end], 4))
        start = end


@pytest.mark.parametrize("backend", ["reference", "fused"])
def test_converges_to_zipf_marginals(backend, device, request):
    skip_without_kernel(backend, request)
    logits, offset = make_logits(64, 16, 1, scale=2.0, seed=1, device=device)
    prior = reference.zipf_prior(16, 1.3, device=device)
    assert prior[0] > prior[-1] and torch.isclose(prior.sum(), prior.new_tensor(1.0))
    with ops.use_backend(backend):
        target, error = ops.zipf_sinkhorn(logits.double(), offset, alpha=1.3, n_iter=300, return_error=True)
    # Converged plan P has rows 1/n and columns prior_k, and the target is P / prior.
    assert error.item() < 1e-6
    assert target.device == device
    torch.testing.assert_close(target.sum(dim=0), torch.ones(16, dtype=torch.float64, device=device))
    torch.testing.assert_close(
        (target * prior).sum(dim=1) * 64, torch.ones(64, dtype=torch.float64, device=device)
    )


def compare(logits, offset, atol=1e-6, **kwargs):
    with ops.use_backend("fused"):
        got, got_error = ops.zipf_sinkhorn(logits, offset, return_error=True, **kwargs)
    want, want_error = reference.zipf_sinkhorn(
        logits, offset, kwargs.get("alpha", 1.3), kwargs.get("prior"), kwargs.get("n_iter", 3)
    )
    assert got.dtype == want.dtype and got.shape == want.shape and got.device == logits.device
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, want, atol=atol, rtol=1e-4)
    torch.testing.assert_close(got_error, want_error, atol=1e-5, rtol=1e-4)


CASES = {
    "random": dict(n=300, k=32, clouds=3, scale=5.0),
    "k1": dict(n=40, k=1, clouds=2, scale=1.0),
    "n1": dict(n=1, k=9, clouds=1, scale=1.0),
    "many_clouds": dict(n=100, k=8, clouds=30, scale=2.0),
    "sharp": dict(n=200, k=64, clouds=2, scale=25.0),  # typical cos / 0.04 range
    "huge_1e4": dict(n=200, k=64, clouds=2, scale=1e4),  # exercises the per-column shift
    "large": dict(n=5000, k=128, clouds=2, scale=10.0),  # several parallel chunks
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_fused_matches_reference(name, fused_device):
    logits, offset = make_logits(**CASES[name], seed=len(name), device=fused_device)
    compare(logits, offset)


def test_fused_extreme_logits_are_finite(fused_device):
    logits, offset = make_logits(100, 16, 2, scale=1.0, seed=2, device=fused_device)
    logits = torch.sign(logits) * 1e4  # |logit| = 1e4 everywhere
    compare(logits, offset, atol=1e-5)
    compare(logits.double(), offset, atol=1e-9)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_fused_dtypes(dtype, fused_device):
    logits, offset = make_logits(120, 16, 2, scale=4.0, seed=3, device=fused_device)
    compare(logits.to(dtype), offset)


def test_fused_options(fused_device):
    logits, offset = make_logits(150, 12, 3, scale=4.0, seed=4, device=fused_device)
    offset = torch.cat([offset[:1], offset[:1], offset[1:]])  # an empty cloud
    compare(logits, offset, alpha=0.0, n_iter=1)
    compare(logits, offset, alpha=2.0, n_iter=7)
    compare(logits, offset, prior=torch.rand(12, device=fused_device) + 0.1, n_iter=2)


def test_fused_no_gradient(fused_device):
    logits, offset = make_logits(30, 4, 1, scale=1.0, seed=5, device=fused_device)
    with ops.use_backend("fused"):
        target = ops.zipf_sinkhorn(logits.requires_grad_(), offset)
    assert not target.requires_grad


def test_opcheck(fused_device):
    logits, offset = make_logits(60, 8, 2, scale=3.0, seed=6, device=fused_device)
    torch.library.opcheck(torch.ops.dos_ops.zipf_sinkhorn.default, (logits, offset, 1.3, None, 3))
    prior = torch.rand(8, dtype=torch.float64, device=fused_device) + 0.1
    torch.library.opcheck(torch.ops.dos_ops.zipf_sinkhorn.default, (logits.double(), offset, 0.0, prior, 2))

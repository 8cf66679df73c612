"""Input validation shared by the ``pointcept.ops`` wrappers; raises ``TypeError``/``ValueError``."""

import torch

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def check_tensor(
    name: str,
    x: object,
    dtypes: tuple[torch.dtype, ...] | None = None,
    ndim: int | None = None,
    device: torch.device | None = None,
) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if dtypes is not None and x.dtype not in dtypes:
        expected = ", ".join(str(d).removeprefix("torch.") for d in dtypes)
        raise TypeError(f"{name} must have dtype in ({expected}), got {str(x.dtype).removeprefix('torch.')}")
    if ndim is not None and x.dim() != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {tuple(x.shape)}")
    if device is not None and x.device != device:
        raise ValueError(f"{name} must be on {device} like the other inputs, got {x.device}")
    return x


def check_rows(name: str, x: torch.Tensor, num_rows: int, columns: int | None = None) -> None:
    if x.shape[0] != num_rows:
        raise ValueError(f"{name} must have N={num_rows} rows, got shape {tuple(x.shape)}")
    if columns is not None and x.shape[1] != columns:
        raise ValueError(f"{name} must have shape (N, {columns}), got {tuple(x.shape)}")


def check_offset(offset: object, num_rows: int, device: torch.device) -> torch.Tensor:
    """``offset`` (Tensor[B] int64): non-decreasing cumulative counts, ``offset[-1] == N``."""
    check_tensor("offset", offset, dtypes=(torch.int64,), ndim=1, device=device)
    if len(offset) == 0:
        raise ValueError("offset must hold at least one cloud, got an empty tensor")
    if int(offset[0]) < 0:
        raise ValueError(f"offset must be non-negative, got offset[0]={int(offset[0])}")
    if len(offset) > 1 and bool((offset[1:] < offset[:-1]).any()):
        raise ValueError(
            f"offset must be non-decreasing (cumulative point counts), got {offset.tolist()[:16]}"
        )
    if int(offset[-1]) != num_rows:
        raise ValueError(f"offset[-1] must equal N={num_rows}, got {int(offset[-1])}")
    return offset


def check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value

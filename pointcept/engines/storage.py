"""Running averages of logged scalars (``trainer.storage``)."""

from collections import defaultdict


class ScalarStorage:
    """Keeps, per name, the latest value and a windowed sum/count since the last :meth:`reset`."""

    def __init__(self):
        self._latest: dict[str, float] = {}
        self._sum: dict[str, float] = defaultdict(float)
        self._count: dict[str, int] = defaultdict(int)

    def put(self, name: str, value: float) -> None:
        value = float(value)
        self._latest[name] = value
        self._sum[name] += value
        self._count[name] += 1

    def latest(self, name: str, default: float | None = None) -> float | None:
        return self._latest.get(name, default)

    def avg(self, name: str) -> float:
        """Mean since the last reset (the latest value if nothing was put since)."""
        if self._count[name] == 0:
            if name not in self._latest:
                raise KeyError(f"no scalar named '{name}' was logged")
            return self._latest[name]
        return self._sum[name] / self._count[name]

    def names(self) -> list[str]:
        return sorted(self._latest)

    def reset(self) -> None:
        """Start a new averaging window (latest values are kept)."""
        self._sum.clear()
        self._count.clear()

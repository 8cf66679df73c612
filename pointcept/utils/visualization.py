"""Colour maps, bird's-eye-view rendering and PLY export for point clouds (numpy; matplotlib lazily).

* ``distinct_palette(n)`` for a label set without colours of its own (e.g. prototype ids; a
  dataset's class colours live beside its class names, e.g. ``label_maps.SEMANTIC_KITTI_PALETTE``),
  ``scalar_colors`` for continuous values (e.g. a softmap).
* ``label_colors``, ``error_colors``: per-point RGB from labels / prediction vs target.
* ``rasterize_bev``: numpy z-buffered top view, ``draw_bev_boxes``: 3D box outlines (and headings)
  onto such a view, ``save_panels_png``: panels + legend via matplotlib.
* ``pyplot()``: matplotlib.pyplot for writing image files (no display needed).
* ``write_ply`` / ``read_ply_header``: PLY (ascii or binary little-endian) with colour and
  per-point scalar properties, readable by MeshLab, CloudCompare, Open3D.
"""

import colorsys

import numpy as np

IGNORE_COLOR = (110, 110, 110)
CORRECT_COLOR = (70, 200, 90)
WRONG_COLOR = (235, 45, 45)

# Anchor colours of matplotlib's viridis, enough for a smooth numpy ramp without matplotlib.
_VIRIDIS = np.array(
    [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=np.float64
)


def pyplot():
    """``matplotlib.pyplot``, imported on first use, on the file-only Agg backend unless a backend was
    already chosen (e.g. by a notebook)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def distinct_palette(n: int, seed: int = 0) -> np.ndarray:
    """(n, 3) uint8 colours with well-spread hues (golden-ratio steps) and alternating lightness."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    hue0 = np.random.default_rng(seed).random()
    rows = []
    for i in range(n):
        h = (hue0 + i * 0.618033988749895) % 1.0
        v = (0.95, 0.75, 0.85)[i % 3]
        s = (0.85, 0.6, 0.95)[(i // 3) % 3]
        rows.append(colorsys.hsv_to_rgb(h, s, v))
    return (np.asarray(rows) * 255).round().astype(np.uint8)


def label_colors(labels: np.ndarray, palette: np.ndarray, ignore_color=IGNORE_COLOR) -> np.ndarray:
    """labels (N,) int (-1 or out of range = ignore) -> (N, 3) uint8 RGB."""
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    palette = np.asarray(palette, dtype=np.uint8)
    out = np.empty((len(labels), 3), dtype=np.uint8)
    valid = (labels >= 0) & (labels < len(palette))
    out[valid] = palette[labels[valid]]
    out[~valid] = ignore_color
    return out


def error_colors(pred: np.ndarray, target: np.ndarray, ignore_index: int = -1) -> np.ndarray:
    """(N,) pred vs (N,) target -> (N, 3) uint8: green correct, red wrong, grey ignored target."""
    pred, target = np.asarray(pred).reshape(-1), np.asarray(target).reshape(-1)
    if pred.shape != target.shape:
        raise ValueError(f"pred has {len(pred)} points but target has {len(target)}")
    out = np.empty((len(pred), 3), dtype=np.uint8)
    out[:] = WRONG_COLOR
    out[pred == target] = CORRECT_COLOR
    out[target == ignore_index] = IGNORE_COLOR
    return out


def scalar_colors(values: np.ndarray, vmin: float | None = None, vmax: float | None = None) -> np.ndarray:
    """(N,) float -> (N, 3) uint8 on a viridis-like ramp; NaN -> ignore colour."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    finite = np.isfinite(values)
    lo = np.nanmin(values[finite]) if vmin is None and finite.any() else (vmin or 0.0)
    hi = np.nanmax(values[finite]) if vmax is None and finite.any() else (vmax if vmax is not None else 1.0)
    x = np.clip((values - lo) / max(hi - lo, 1e-12), 0, 1) * (len(_VIRIDIS) - 1)
    x = np.where(finite, x, 0)
    i = np.minimum(x.astype(np.int64), len(_VIRIDIS) - 2)
    f = (x - i)[:, None]
    out = (_VIRIDIS[i] * (1 - f) + _VIRIDIS[i + 1] * f).round().astype(np.uint8)
    out[~finite] = IGNORE_COLOR
    return out


def rasterize_bev(
    coord: np.ndarray,
    colors: np.ndarray,
    extent: float = 40.0,
    resolution: float = 0.1,
    point_size: int = 2,
    background=(12, 12, 16),
    center=(0.0, 0.0),
) -> np.ndarray:
    """Top view of a cloud: +x (forward) points up the image, +y (left) to the left.

    coord (N, 3) float, colors (N, 3) uint8 -> image (H, H, 3) uint8 with H = 2 * extent /
    resolution, covering [center - extent, center + extent] in x and y. Higher points are drawn
    over lower ones (a z-buffer by sorting), each as a ``point_size`` x ``point_size`` square.
    """
    coord = np.asarray(coord, dtype=np.float64)
    colors = np.asarray(colors, dtype=np.uint8)
    if coord.ndim != 2 or coord.shape[1] < 3 or len(colors) != len(coord):
        raise ValueError(
            f"coord must be (N, 3) and colors (N, 3) with equal N, got {coord.shape}, {colors.shape}"
        )
    size = int(round(2 * extent / resolution))
    image = np.empty((size, size, 3), dtype=np.uint8)
    image[:] = background
    row = np.floor((center[0] + extent - coord[:, 0]) / resolution).astype(np.int64)
    col = np.floor((center[1] + extent - coord[:, 1]) / resolution).astype(np.int64)
    order = np.argsort(coord[:, 2], kind="stable")
    row, col, rgb = row[order], col[order], colors[order]
    for dr in range(point_size):
        for dc in range(point_size):
            r, c = row + dr - point_size // 2, col + dc - point_size // 2
            inside = (r >= 0) & (r < size) & (c >= 0) & (c < size)
            image[r[inside], c[inside]] = rgb[inside]
    return image


def draw_bev_boxes(
    image: np.ndarray,
    boxes: np.ndarray,
    color,
    extent: float = 40.0,
    resolution: float = 0.1,
    center=(0.0, 0.0),
    thickness: int = 1,
) -> np.ndarray:
    """Draw the BEV outline of each box (M, 7+: x, y, z, l, w, h, yaw, ...; ``datasets.boxes``
    convention) and a line from its centre to the middle of its front face, in place.

    ``image`` must come from ``rasterize_bev`` with the same ``extent``, ``resolution`` and
    ``center``; parts outside the view are clipped. Returns ``image``.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] < 7:
        raise ValueError(f"boxes must be (M, 7+) = x, y, z, l, w, h, yaw, ...; got shape {boxes.shape}")
    size = image.shape[0]
    rgb = np.asarray(color, dtype=np.uint8)
    for b in boxes:
        c, s = np.cos(b[6]), np.sin(b[6])
        local = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]]) * (b[3:5] / 2)
        corners = b[:2] + local @ np.array([[c, s], [-s, c]])
        front = b[:2] + np.array([c, s]) * b[3] / 2
        segments = [(corners[i], corners[(i + 1) % 4]) for i in range(4)] + [(b[:2], front)]
        for p0, p1 in segments:
            n = max(2, int(np.ceil(np.linalg.norm(p1 - p0) / resolution * 2)) + 1)
            t = np.linspace(0.0, 1.0, n)[:, None]
            xy = p0 + t * (p1 - p0)
            row = np.floor((center[0] + extent - xy[:, 0]) / resolution).astype(np.int64)
            col = np.floor((center[1] + extent - xy[:, 1]) / resolution).astype(np.int64)
            for dr in range(thickness):
                for dc in range(thickness):
                    r, q = row + dr - thickness // 2, col + dc - thickness // 2
                    inside = (r >= 0) & (r < size) & (q >= 0) & (q < size)
                    image[r[inside], q[inside]] = rgb
    return image


def save_panels_png(
    path: str,
    panels: list[tuple[str, np.ndarray]],
    legend: list[tuple[str, tuple]] | None = None,
    extent: float | None = None,
    dpi: int = 100,
) -> None:
    """Write images side by side with titles and an optional colour legend on the right, as a PNG.

    panels: (title, image (H, W, 3) uint8) pairs; legend: (name, RGB 0-255) entries.
    ``extent`` (metres) labels the axes in metres around the sensor.
    """
    from matplotlib.patches import Patch

    plt = pyplot()

    if not panels:
        raise ValueError("save_panels_png needs at least one panel")
    n = len(panels)
    legend_w = 2.0 if legend else 0.0
    fig_w, fig_h = 6.0 * n + legend_w, 6.4
    fig, axes = plt.subplots(1, n, figsize=(fig_w, fig_h), squeeze=False, facecolor="#0c0c10")
    for ax, (title, image) in zip(axes[0], panels):
        kw = {}
        if extent is not None:
            kw["extent"] = (extent, -extent, -extent, extent)
        ax.imshow(image, interpolation="nearest", **kw)
        ax.set_title(title, color="white", fontsize=13)
        ax.set_facecolor("#0c0c10")
        ax.tick_params(colors="#aaaaaa", labelsize=8)
        for spine in ax.spines.values():
            spine.set_color("#444444")
        if extent is not None:
            ax.set_xlabel("y [m]", color="#aaaaaa", fontsize=9)
            ax.set_ylabel("x [m]", color="#aaaaaa", fontsize=9)
    if legend:
        handles = [Patch(facecolor=np.asarray(c) / 255.0, edgecolor="none", label=name) for name, c in legend]
        fig.legend(
            handles=handles,
            loc="center right",
            ncol=1 if len(handles) <= 24 else 2,
            frameon=False,
            labelcolor="white",
            fontsize=10,
            handlelength=1.2,
        )
    fig.subplots_adjust(
        left=0.6 / fig_w, right=1 - (legend_w + 0.2) / fig_w, top=0.94, bottom=0.08, wspace=0.18
    )
    fig.savefig(path, dpi=dpi, facecolor=fig.get_facecolor())
    plt.close(fig)


_PLY_TYPES = {
    "f4": "float",
    "f8": "double",
    "u1": "uchar",
    "i4": "int",
    "u4": "uint",
    "i2": "short",
    "u2": "ushort",
}


def write_ply(
    path: str,
    coord: np.ndarray,
    colors: np.ndarray | None = None,
    scalars: dict[str, np.ndarray] | None = None,
    binary: bool = True,
) -> None:
    """Write a PLY point cloud.

    coord (N, 3) float -> x, y, z float; colors (N, 3) uint8 -> red, green, blue uchar; scalars:
    name -> (N,) array written as int (integer arrays) or float (floating arrays), e.g.
    ``{"label": segment, "pred": pred}``. ``binary`` writes binary_little_endian, else ascii.
    """
    coord = np.asarray(coord)
    n = len(coord)
    fields = [("x", "<f4", coord[:, 0]), ("y", "<f4", coord[:, 1]), ("z", "<f4", coord[:, 2])]
    if colors is not None:
        colors = np.asarray(colors, dtype=np.uint8)
        if colors.shape != (n, 3):
            raise ValueError(f"colors must be ({n}, 3), got {colors.shape}")
        fields += [(c, "u1", colors[:, i]) for i, c in enumerate(("red", "green", "blue"))]
    for name, values in (scalars or {}).items():
        values = np.asarray(values).reshape(-1)
        if len(values) != n:
            raise ValueError(f"scalar '{name}' has {len(values)} values for {n} points")
        dtype = "<i4" if np.issubdtype(values.dtype, np.integer) else "<f4"
        fields.append((name, dtype, values))
    record = np.empty(n, dtype=[(name, dt) for name, dt, _ in fields])
    for name, _, values in fields:
        record[name] = values
    header = ["ply", f"format {'binary_little_endian' if binary else 'ascii'} 1.0", f"element vertex {n}"]
    header += [f"property {_PLY_TYPES[np.dtype(dt).str.lstrip('<|')]} {name}" for name, dt, _ in fields]
    header.append("end_header")
    with open(path, "wb") as f:
        f.write(("\n".join(header) + "\n").encode("ascii"))
        if binary:
            f.write(record.tobytes())
        else:
            fmt = " ".join("%d" if np.dtype(dt).kind in "iu" else "%.6g" for _, dt, _ in fields)
            np.savetxt(f, np.column_stack([record[name] for name, _, _ in fields]), fmt=fmt)


def read_ply_header(path: str) -> dict:
    """Parse a PLY header: ``{"format": str, "vertex_count": int, "properties": [(type, name)],
    "header_bytes": int}``. Raises ValueError if the file is not a PLY."""
    with open(path, "rb") as f:
        if f.readline().strip() != b"ply":
            raise ValueError(f"{path}: not a PLY file (missing 'ply' magic)")
        info = {"format": None, "vertex_count": None, "properties": []}
        while True:
            line = f.readline()
            if not line:
                raise ValueError(f"{path}: PLY header has no end_header")
            words = line.decode("ascii").split()
            if words[:1] == ["format"]:
                info["format"] = words[1]
            elif words[:2] == ["element", "vertex"]:
                info["vertex_count"] = int(words[2])
            elif words[:1] == ["property"]:
                info["properties"].append((words[1], words[2]))
            elif words[:1] == ["end_header"]:
                info["header_bytes"] = f.tell()
                return info

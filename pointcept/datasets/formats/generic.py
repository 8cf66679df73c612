"""Point clouds as users have them: KITTI ``.bin``, ``.npy``, ``.ply``, ``.pcd``, ``.las``/``.laz``.

``read_point_file(path, columns=None)`` returns a sample dict::

    coord     float32 (N, 3)  metres, minus ``origin``
    origin    float64 (3,)    zeros, or the shift taken off georeferenced coordinates (below)
    strength  float32 (N, 1)  intensity / remission as stored in the file (no rescaling)
    color     float32 (N, 3)  RGB in [0, 1]
    normal    float32 (N, 3)

with only the attributes the file has. Which columns/fields mean what:

* ``.bin``: float32 rows, by default KITTI's ``x, y, z, remission``; a name ending in ``.pcd.bin``
  is a nuScenes scan (``x, y, z, intensity, ring``). ``columns`` gives another layout.
* ``.npy``: an (N, C) array whose columns follow ``columns`` or, without it, the width:
  3 ``x,y,z``; 4 ``x,y,z,strength``; 5 ``x,y,z,strength,_`` (nuScenes); 6 ``x,y,z,r,g,b``;
  7 ``x,y,z,strength,r,g,b``; 9 ``x,y,z,r,g,b,nx,ny,nz``. Other widths need ``columns``.
* ``.ply`` (plyfile), ``.pcd`` (pypcd4), ``.las``/``.laz`` (laspy): named fields. ``x, y, z``;
  strength from the first of ``intensity, scalar_intensity, remission, reflectance, strength``;
  colour from ``red, green, blue`` (PCD: a packed ``rgb``/``rgba`` field); normals from
  ``nx, ny, nz`` or ``normal_x, normal_y, normal_z``.

A column spec (``columns``) is a comma-separated list, one name per column: ``x, y, z``,
``strength`` (aliases ``intensity``, ``remission``, ``reflectance``), ``r, g, b``,
``nx, ny, nz``, and ``_`` for a column to skip, e.g. ``"x,y,z,strength,_"``.

Colour: integer colours are divided by their type's maximum (255 for uint8, 65535 for uint16, as
LAS stores them); floating colours are kept when every value is <= 1 and divided by 255 otherwise.

Georeferenced clouds (any |coordinate| > ``GEOREF_LIMIT``, e.g. UTM LAS tiles) lose precision in
float32 and lie far outside what a model was trained on, so the reader subtracts
``origin = (round(centre_x), round(centre_y), 0)`` of the bounding box before the float32 cast.

Optional packages are imported inside the reader that needs them; a missing one raises
``MissingPackageError`` naming the ``pip install`` command.
"""

import os

import numpy as np

from ..validation import check_coord, check_regular_file

SUPPORTED_EXTENSIONS = (".bin", ".npy", ".ply", ".pcd", ".las", ".laz")
# |coordinate| above which a cloud is taken as georeferenced and shifted (metres).
GEOREF_LIMIT = 1e4

# Column names of the headerless formats -> (attribute, channel).
_COLUMN_NAMES = {
    "x": ("coord", 0), "y": ("coord", 1), "z": ("coord", 2),
    "strength": ("strength", 0), "intensity": ("strength", 0), "remission": ("strength", 0),
    "reflectance": ("strength", 0),
    "r": ("color", 0), "g": ("color", 1), "b": ("color", 2),
    "red": ("color", 0), "green": ("color", 1), "blue": ("color", 2),
    "nx": ("normal", 0), "ny": ("normal", 1), "nz": ("normal", 2),
}  # fmt: skip
_WIDTHS = {"coord": 3, "strength": 1, "color": 3, "normal": 3}
_NPY_DEFAULT_COLUMNS = {
    3: "x,y,z",
    4: "x,y,z,strength",
    5: "x,y,z,strength,_",
    6: "x,y,z,r,g,b",
    7: "x,y,z,strength,r,g,b",
    9: "x,y,z,r,g,b,nx,ny,nz",
}
_STRENGTH_FIELDS = ("intensity", "scalar_intensity", "remission", "reflectance", "strength")
_NORMAL_FIELDS = (("nx", "ny", "nz"), ("normal_x", "normal_y", "normal_z"))


class PointFileError(ValueError):
    """A point file that cannot be read as a point cloud; the message names the file."""


class MissingPackageError(ImportError):
    """An optional package needed for one file format is not installed; the message says how to install it."""


def _require(module: str, pip_name: str, path: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingPackageError(
            f"{path}: reading {os.path.splitext(path)[1]} files needs the '{module}' package "
            f"(pip install {pip_name})"
        ) from e


def file_extension(path: str) -> str:
    """Lower-case extension of ``path`` (``.bin`` also for ``*.pcd.bin``)."""
    return os.path.splitext(path)[1].lower()


def parse_columns(spec: str) -> list[str]:
    """``"x,y,z,strength,_"`` -> list of names; PointFileError for unknown or repeated names or no x/y/z."""
    names = [c.strip().lower() for c in spec.split(",")]
    unknown = [c for c in names if c != "_" and c not in _COLUMN_NAMES]
    if unknown:
        raise PointFileError(
            f"--columns {spec!r}: unknown column name(s) {unknown}; use {', '.join(_COLUMN_NAMES)} or _ to skip"
        )
    targets = [_COLUMN_NAMES[c] for c in names if c != "_"]
    if len(set(targets)) != len(targets):
        raise PointFileError(f"--columns {spec!r}: a column is named twice")
    if not {("coord", 0), ("coord", 1), ("coord", 2)} <= set(targets):
        raise PointFileError(f"--columns {spec!r}: x, y and z are required")
    for attr, width in _WIDTHS.items():
        have = {ch for a, ch in targets if a == attr}
        if have and len(have) != width:
            raise PointFileError(f"--columns {spec!r}: '{attr}' needs all {width} channels, got {len(have)}")
    return names


def _split_columns(array: np.ndarray, names: list[str], path: str) -> dict[str, np.ndarray]:
    if array.ndim != 2 or array.shape[1] != len(names):
        raise PointFileError(
            f"{path}: {array.shape[1] if array.ndim == 2 else array.shape} columns but the column spec "
            f"has {len(names)} ({','.join(names)})"
        )
    out = {}
    for attr, width in _WIDTHS.items():
        cols = [None] * width
        for i, name in enumerate(names):
            if name != "_" and _COLUMN_NAMES[name][0] == attr:
                cols[_COLUMN_NAMES[name][1]] = array[:, i]
        if cols[0] is not None:
            out[attr] = np.stack(cols, axis=1)
    return out


def scale_color(color: np.ndarray) -> np.ndarray:
    """Colours to float32 [0, 1] by the rule of the module doc."""
    if np.issubdtype(color.dtype, np.integer):
        return (color.astype(np.float64) / np.iinfo(color.dtype).max).astype(np.float32)
    color = color.astype(np.float32)
    return color / 255.0 if len(color) and color.max() > 1.0 else color


def _finish(attrs: dict[str, np.ndarray], path: str) -> dict[str, np.ndarray]:
    """Shift georeferenced coordinates, cast, scale colours and check the result (module doc)."""
    coord = np.asarray(attrs["coord"], dtype=np.float64)
    if len(coord) == 0:
        raise PointFileError(f"{path}: empty point cloud (0 points)")
    origin = np.zeros(3)
    if np.isfinite(coord).all() and np.abs(coord).max() > GEOREF_LIMIT:
        origin[:2] = np.round((coord[:, :2].min(0) + coord[:, :2].max(0)) / 2)
        coord = coord - origin
    out = {"coord": coord.astype(np.float32), "origin": origin}
    check_coord(out["coord"], path)
    if "strength" in attrs:
        out["strength"] = np.asarray(attrs["strength"], dtype=np.float32).reshape(len(coord), 1)
    if "color" in attrs:
        out["color"] = scale_color(np.asarray(attrs["color"]))
    if "normal" in attrs:
        out["normal"] = np.asarray(attrs["normal"], dtype=np.float32)
    return out


def _read_bin(path: str, columns: str | None) -> dict:
    if columns is None and path.lower().endswith(".pcd.bin"):
        columns = "x,y,z,strength,_"
    names = parse_columns(columns or "x,y,z,strength")
    row = 4 * len(names)
    size = os.path.getsize(path)
    if size % row:
        raise PointFileError(
            f"{path}: {size} bytes is not a multiple of {row} ({len(names)} float32 columns "
            f"{','.join(names)}); pass --columns with the file's layout"
        )
    return _split_columns(np.fromfile(path, dtype=np.float32).reshape(-1, len(names)), names, path)


def _read_npy(path: str, columns: str | None) -> dict:
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise PointFileError(f"{path}: cannot read .npy ({e})") from e
    if array.ndim != 2 or not (np.issubdtype(array.dtype, np.number)):
        raise PointFileError(
            f"{path}: expected a numeric (N, C) array with C >= 3, got {array.dtype} {array.shape}"
        )
    if columns is None:
        if array.shape[1] not in _NPY_DEFAULT_COLUMNS:
            raise PointFileError(
                f"{path}: {array.shape[1]} columns has no default meaning (known widths: "
                + "; ".join(f"{w} = {c}" for w, c in _NPY_DEFAULT_COLUMNS.items())
                + "); pass --columns, e.g. --columns x,y,z,strength,_"
            )
        columns = _NPY_DEFAULT_COLUMNS[array.shape[1]]
    return _split_columns(array, parse_columns(columns), path)


def _pick(fields, candidates) -> str | None:
    lower = {f.lower(): f for f in fields}
    return next((lower[c] for c in candidates if c in lower), None)


def _named_fields(get, fields, path: str, what: str) -> dict:
    """Attributes from a format with named fields; ``get(name) -> (N,) array``."""
    missing = [c for c in "xyz" if _pick(fields, (c,)) is None]
    if missing:
        raise PointFileError(f"{path}: {what} has no {'/'.join(missing)} field (fields: {', '.join(fields)})")
    out = {"coord": np.stack([get(_pick(fields, (c,))) for c in "xyz"], axis=1)}
    strength = _pick(fields, _STRENGTH_FIELDS)
    if strength is not None:
        out["strength"] = get(strength)
    rgb = [_pick(fields, (c,)) for c in ("red", "green", "blue")]
    if all(rgb):
        out["color"] = np.stack([get(c) for c in rgb], axis=1)
    for names in _NORMAL_FIELDS:
        normal = [_pick(fields, (c,)) for c in names]
        if all(normal):
            out["normal"] = np.stack([get(c) for c in normal], axis=1)
            break
    return out


def _read_ply(path: str) -> dict:
    plyfile = _require("plyfile", "plyfile", path)
    try:
        ply = plyfile.PlyData.read(path)
    except Exception as e:  # plyfile raises its own PlyParseError, ValueError, struct errors...
        raise PointFileError(f"{path}: cannot read PLY ({type(e).__name__}: {e})") from e
    if "vertex" not in [el.name for el in ply.elements]:
        raise PointFileError(f"{path}: PLY has no 'vertex' element")
    vertex = ply["vertex"].data
    return _named_fields(lambda f: np.asarray(vertex[f]), vertex.dtype.names, path, "PLY vertex element")


def _read_pcd(path: str) -> dict:
    pypcd4 = _require("pypcd4", "pypcd4", path)
    try:
        pc = pypcd4.PointCloud.from_path(path)
    except Exception as e:  # pypcd4 raises pydantic ValidationError, ValueError, ...
        raise PointFileError(f"{path}: cannot read PCD ({type(e).__name__}: {e})") from e
    fields = list(pc.fields)
    out = _named_fields(lambda f: pc.numpy((f,))[:, 0], fields, path, "PCD")
    packed = _pick(fields, ("rgb", "rgba"))
    if "color" not in out and packed is not None:
        out["color"] = pypcd4.PointCloud.decode_rgb(pc.numpy((packed,))[:, 0].astype(np.float32))
    return out


def _read_las(path: str) -> dict:
    pip_name = '"laspy[lazrs]"' if file_extension(path) == ".laz" else "laspy"
    laspy = _require("laspy", pip_name, path)
    try:
        las = laspy.read(path)
    except laspy.errors.LaspyException as e:
        if "backend" in str(e).lower() or "laz" in str(e).lower():
            raise MissingPackageError(
                f"{path}: reading .laz files needs a LAZ backend ({e}) (pip install {pip_name})"
            ) from e
        raise PointFileError(f"{path}: cannot read LAS/LAZ ({e})") from e
    except (ValueError, OSError, EOFError) as e:
        raise PointFileError(f"{path}: cannot read LAS/LAZ ({e})") from e
    dims = list(las.point_format.dimension_names)
    out = {"coord": np.stack([np.asarray(las.x), np.asarray(las.y), np.asarray(las.z)], axis=1)}
    if "intensity" in dims:
        out["strength"] = np.asarray(las.intensity)
    if all(c in dims for c in ("red", "green", "blue")):
        out["color"] = np.stack([np.asarray(las[c]) for c in ("red", "green", "blue")], axis=1)
    return out


def read_point_file(path: str, columns: str | None = None) -> dict[str, np.ndarray]:
    """Read one point cloud file into a sample dict (module doc: keys, column rules, scaling).

    Args:
        path: a file with one of ``SUPPORTED_EXTENSIONS``.
        columns: column spec of a headerless file (``.bin``, ``.npy``); ignored by the formats with
            named fields.

    Raises:
        PointFileError (a ValueError) naming the file: unsupported extension, missing or unreadable
        file, wrong size or width, missing x/y/z, empty cloud, NaN/Inf or implausible coordinates.
        MissingPackageError: the format's optional package is not installed (message: pip command).
    """
    path = str(path)
    ext = file_extension(path)
    if ext not in SUPPORTED_EXTENSIONS:
        raise PointFileError(
            f"{path}: unsupported point cloud format '{ext or '(no extension)'}'; supported: "
            + ", ".join(SUPPORTED_EXTENSIONS)
        )
    try:
        check_regular_file(path, "point cloud file")
    except ValueError as e:
        raise PointFileError(str(e)) from None
    if ext == ".bin":
        attrs = _read_bin(path, columns)
    elif ext == ".npy":
        attrs = _read_npy(path, columns)
    elif ext == ".ply":
        attrs = _read_ply(path)
    elif ext == ".pcd":
        attrs = _read_pcd(path)
    else:
        attrs = _read_las(path)
    return _finish(attrs, path)


def find_point_files(root: str) -> list[str]:
    """``root`` itself if it is a file, else every supported file under the folder ``root`` (recursive, sorted)."""
    root = str(root)
    if os.path.isfile(root):
        ext = file_extension(root)
        if ext not in SUPPORTED_EXTENSIONS:
            raise PointFileError(
                f"{root}: unsupported point cloud format '{ext or '(no extension)'}'; supported: "
                + ", ".join(SUPPORTED_EXTENSIONS)
            )
        return [root]
    if not os.path.isdir(root):
        raise PointFileError(f"{root}: no such file or folder")
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        found.extend(
            os.path.join(dirpath, f) for f in sorted(filenames) if file_extension(f) in SUPPORTED_EXTENSIONS
        )
    if not found:
        raise PointFileError(
            f"{root}: no point cloud files ({', '.join(SUPPORTED_EXTENSIONS)}) in this folder"
        )
    return found

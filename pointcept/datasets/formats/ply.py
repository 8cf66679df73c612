"""A minimal PLY reader (binary little/big endian) for meshes such as ScanNet's ``*_vh_clean_2.ply``.

Supports scalar properties and list properties whose rows all have the same length (triangle
meshes), which is what ScanNet writes. Reading is vectorised with numpy structured dtypes.
"""

import numpy as np

_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}  # fmt: skip


def _parse_header(path: str, f) -> tuple[str, list]:
    if f.readline().strip() != b"ply":
        raise ValueError(f"{path}: not a PLY file (missing 'ply' magic)")
    fmt = None
    elements = []  # [name, count, [(prop, type) | (prop, ("list", count_type, item_type))]]
    while True:
        line = f.readline()
        if not line:
            raise ValueError(f"{path}: PLY header has no end_header")
        words = line.decode("ascii", errors="replace").split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        if words[0] == "end_header":
            break
        if words[0] == "format":
            fmt = words[1]
        elif words[0] == "element":
            elements.append([words[1], int(words[2]), []])
        elif words[0] == "property":
            if not elements:
                raise ValueError(f"{path}: PLY property before any element")
            if words[1] == "list":
                elements[-1][2].append((words[4], ("list", words[2], words[3])))
            else:
                elements[-1][2].append((words[2], words[1]))
    if fmt not in ("binary_little_endian", "binary_big_endian"):
        raise ValueError(f"{path}: PLY format '{fmt}' not supported (binary_little_endian/big_endian only)")
    return fmt, elements


def _type(path: str, name: str, endian: str) -> str:
    if name not in _PLY_TYPES:
        raise ValueError(f"{path}: unknown PLY property type '{name}'")
    return endian + _PLY_TYPES[name]


def read_ply(path: str) -> dict[str, dict[str, np.ndarray]]:
    """Read every element of a binary PLY file.

    Returns:
        dict element name -> dict property name -> array: (count,) for a scalar property, (count, L)
        for a list property (e.g. ``face["vertex_indices"]`` (F, 3) of a triangle mesh).

    Raises:
        ValueError: naming the file for a non-PLY or ASCII file, an unknown type, ragged lists
        (e.g. mixed triangles and quads) or a truncated body.
    """
    with open(path, "rb") as f:
        fmt, elements = _parse_header(path, f)
        body = f.read()
    endian = "<" if fmt == "binary_little_endian" else ">"
    out = {}
    pos = 0
    for name, count, props in elements:
        fields = []
        for prop, ptype in props:
            if isinstance(ptype, tuple):
                count_t = np.dtype(_type(path, ptype[1], endian))
                if count == 0:
                    length = 0
                else:
                    # Row length from the first row; every row is checked below.
                    before = np.dtype(fields).itemsize if fields else 0
                    length = int(np.frombuffer(body, count_t, 1, pos + before)[0])
                fields.append((f"__n_{prop}", count_t.str))
                fields.append((prop, _type(path, ptype[2], endian), (length,)))
            else:
                fields.append((prop, _type(path, ptype, endian)))
        dtype = np.dtype(fields)
        need = dtype.itemsize * count
        if pos + need > len(body):
            raise ValueError(
                f"{path}: truncated PLY body in element '{name}' ({len(body) - pos} of {need} bytes)"
            )
        arr = np.frombuffer(body, dtype, count, pos)
        for prop, ptype in props:
            if isinstance(ptype, tuple) and count and (arr[f"__n_{prop}"] != arr.dtype[prop].shape[0]).any():
                raise ValueError(
                    f"{path}: ragged list property '{prop}' in element '{name}' is not supported"
                )
        out[name] = {p: np.ascontiguousarray(arr[p]) for p, _ in props}
        pos += need
    return out


def ply_property(ply: dict[str, dict[str, np.ndarray]], element: str, prop: str, path: str) -> np.ndarray:
    """``ply[element][prop]`` of a ``read_ply`` result, or ValueError naming ``path``, the missing
    element or property, and what the file has instead."""
    if element not in ply:
        raise ValueError(f"{path}: PLY has no '{element}' element (elements: {', '.join(ply) or 'none'})")
    if prop not in ply[element]:
        have = ", ".join(ply[element]) or "none"
        raise ValueError(f"{path}: PLY element '{element}' has no '{prop}' property (properties: {have})")
    return ply[element][prop]

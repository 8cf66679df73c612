"""Registry and build_from_cfg: building by class name and errors that name the config key."""

import pytest

from pointcept.utils.registry import ConfigError, Registry, build_from_cfg

REG = Registry("things")


@REG.register_module()
class Box:
    def __init__(self, size: int, color: str = "red"):
        if size < 0:
            raise ValueError("size must be >= 0")
        self.size, self.color = size, color


@REG.register_module()
class Bag:
    def __init__(self, **kwargs):
        self.kwargs = kwargs


def test_build_by_class_name_with_defaults():
    box = build_from_cfg(dict(type="Box", size=3), REG, color="blue")
    assert isinstance(box, Box) and (box.size, box.color) == (3, "blue")
    # an explicit config value wins over a default argument
    assert REG.build(dict(type="Box", size=1, color="green"), color="blue").color == "green"
    assert build_from_cfg(None, REG) is None
    assert build_from_cfg(dict(type=Box, size=2), REG).size == 2


def test_registry_contents_and_duplicates():
    assert "Box" in REG and REG.get("Box") is Box and REG.get("Nope") is None
    assert REG.names() == ["Bag", "Box"] and len(REG) == 2
    with pytest.raises(KeyError, match="Box is already registered in registry 'things'"):
        REG.register_module()(Box)
    REG.register_module(name="Box", force=True)(Box)


def test_unknown_type_lists_known_types_and_where():
    with pytest.raises(
        ConfigError, match=r"model\.backbone: type 'Crate' is not in registry 'things'; known types: Bag, Box"
    ):
        build_from_cfg(dict(type="Crate"), REG, where="model.backbone")


def test_unexpected_and_missing_keys_are_named():
    with pytest.raises(ConfigError, match=r"hooks\[0\]: Box got unexpected config key\(s\) \['weight'\]"):
        build_from_cfg(dict(type="Box", size=1, weight=2), REG, where="hooks[0]")
    with pytest.raises(ConfigError, match=r"Box is missing required config key\(s\) \['size'\]"):
        build_from_cfg(dict(type="Box"), REG)
    # **kwargs accepts anything
    assert build_from_cfg(dict(type="Bag", a=1), REG).kwargs == {"a": 1}


def test_bad_config_shapes_and_constructor_errors():
    with pytest.raises(ConfigError, match="missing required key 'type'"):
        build_from_cfg(dict(size=1), REG)
    with pytest.raises(ConfigError, match="expected a dict with a 'type' key, got list"):
        build_from_cfg([1], REG)
    with pytest.raises(ConfigError, match="'type' must be a string or a class, got int"):
        build_from_cfg(dict(type=3), REG)
    with pytest.raises(ConfigError, match=r"data\.train: Box: size must be >= 0"):
        build_from_cfg(dict(type="Box", size=-1), REG, where="data.train")
    assert issubclass(ConfigError, ValueError)

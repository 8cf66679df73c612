"""Python config files: _base_ inheritance, deep merge, --options overrides, errors, round trip."""

import textwrap

import pytest

from pointcept.utils.config import Config, load_config, merge, parse_options, parse_value
from pointcept.utils.registry import ConfigError


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return str(path)


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "_base_").mkdir()
    write(
        tmp_path / "_base_" / "runtime.py",
        """
        seed = 1
        max_steps = 100
        optimizer = dict(type="AdamW", lr=1e-3, betas=(0.9, 0.99))
        hooks = [dict(type="A"), dict(type="B", interval=5)]
        """,
    )
    write(
        tmp_path / "_base_" / "data.py",
        """
        data = dict(num_classes=4, train=dict(type="D", split="train", loop=1))
        """,
    )
    write(
        tmp_path / "mid.py",
        """
        _base_ = ["_base_/runtime.py", "_base_/data.py"]
        optimizer = dict(lr=2e-3)
        data = dict(train=dict(split="trainval"))
        """,
    )
    return tmp_path


def test_base_inheritance_and_deep_merge(tree):
    path = write(
        tree / "exp.py",
        """
        _base_ = "mid.py"
        base_lr = 0.01
        optimizer = dict(lr=base_lr / 10)
        model = dict(type="M", depths=[2 * i for i in range(3)])
        """,
    )
    cfg = load_config(path, strict=False)  # base_lr is not a known key (tests/test_config_strict.py)
    assert cfg.seed == 1 and cfg.max_steps == 100
    # dicts merge key by key through two levels of inheritance
    assert cfg.optimizer == dict(type="AdamW", lr=0.001, betas=(0.9, 0.99))
    assert cfg.data.train == dict(type="D", split="trainval", loop=1)
    assert cfg.data.num_classes == 4
    assert cfg.model.depths == [0, 2, 4] and cfg.base_lr == 0.01
    assert "_base_" not in cfg
    assert isinstance(cfg.data.train, Config)


def test_delete_replaces_instead_of_merging(tree):
    path = write(tree / "exp.py", '_base_ = "mid.py"\noptimizer = dict(_delete_=True, type="SGD", lr=0.1)\n')
    assert load_config(path).optimizer == dict(type="SGD", lr=0.1)
    assert merge(dict(a=dict(b=1, c=2)), dict(a=dict(c=3))) == dict(a=dict(b=1, c=3))


def test_options_parse_types_and_nested_keys(tree):
    path = write(tree / "exp.py", '_base_ = "mid.py"\n')
    cfg = load_config(
        path,
        [
            "max_steps=20",
            "optimizer.lr=5e-4",
            "optimizer.betas=(0.8,0.9)",
            "data.train.split=val",
            "resume=true",
            "weight=None",
            "hooks.1.interval=7",
            "new.deep.key=[1,2]",
            "save_path=exp/semantic_kitti/run 1",
        ],
        strict=False,  # new.deep.key is created (strict refuses it: tests/test_config_strict.py)
    )
    assert cfg.max_steps == 20 and isinstance(cfg.max_steps, int)
    assert cfg.optimizer.lr == 5e-4 and cfg.optimizer.betas == (0.8, 0.9)
    assert cfg.data.train.split == "val" and cfg.data.train.loop == 1
    assert cfg.resume is True and cfg.weight is None
    assert cfg.hooks[1] == dict(type="B", interval=7)
    assert cfg.new.deep.key == [1, 2]
    assert cfg.save_path == "exp/semantic_kitti/run 1"
    assert parse_value("False") is False and parse_value("3") == 3 and parse_value("abc") == "abc"
    assert parse_options(["a.b=1", "c=x=y"]) == {"a.b": 1, "c": "x=y"}


def test_option_and_file_errors_name_the_problem(tree):
    path = write(tree / "exp.py", '_base_ = "mid.py"\n')
    with pytest.raises(ConfigError, match="option 'max_steps' must look like key=value"):
        load_config(path, ["max_steps"])
    with pytest.raises(ConfigError, match="'hooks.x' indexes a list; use an integer"):
        load_config(path, ["hooks.x.interval=1"])
    with pytest.raises(ConfigError, match="'hooks.5': index 5 out of range for a list of 2"):
        load_config(path, ["hooks.5.interval=1"])
    with pytest.raises(FileNotFoundError, match="nothere.py"):
        load_config(str(tree / "nothere.py"))
    bad = write(tree / "bad.py", "x = undefined_name\n")
    with pytest.raises(ConfigError, match=r"failed to execute config .*bad\.py: NameError"):
        load_config(bad)
    write(tree / "loop_a.py", '_base_ = "loop_b.py"\n')
    write(tree / "loop_b.py", '_base_ = "loop_a.py"\n')
    with pytest.raises(ConfigError, match="circular _base_ inheritance"):
        load_config(str(tree / "loop_a.py"))


def test_pretty_text_round_trip(tree, tmp_path):
    path = write(tree / "exp.py", '_base_ = "mid.py"\nkey_map = {"student.backbone.": "backbone."}\n')
    cfg = load_config(path, ["optimizer.betas=(0.5,)"])
    dumped = write(tmp_path / "dumped.py", cfg.pretty_text())
    assert load_config(dumped) == cfg


def test_config_attribute_access():
    cfg = Config(a=dict(b=dict(c=1)))
    assert cfg.a.b.c == 1
    cfg.x = dict(y=2)
    assert cfg.x.y == 2
    assert cfg.setdefault("z", dict(w=3)).w == 3
    with pytest.raises(AttributeError, match="config has no key 'missing'"):
        _ = cfg.missing


def test_by_type_patches_and_removes_elements_of_a_base_list(tree, tmp_path):
    path = write(
        tmp_path / "patch.py",
        """
        _base_ = "mid.py"
        hooks = dict(_by_type_=[dict(type="B", interval=7, extra=dict(k=1)), dict(type="A", _remove_=True)])
        """,
    )
    cfg = load_config(path, strict=False)
    assert cfg.hooks == [dict(type="B", interval=7, extra=dict(k=1))]
    # nested lists (a transform inside a dataset dict) are reached through the dict merge
    base = dict(data=dict(train=dict(transform=[dict(type="G", grid=0.05), dict(type="T")])))
    out = merge(base, dict(data=dict(train=dict(transform=dict(_by_type_=[dict(type="G", grid=0.1)])))))
    assert out["data"]["train"]["transform"] == [dict(type="G", grid=0.1), dict(type="T")]
    assert base["data"]["train"]["transform"][0]["grid"] == 0.05  # the base is not modified


@pytest.mark.parametrize(
    "hooks, message",
    [
        ('dict(_by_type_=[dict(type="C", x=1)])', "patches type 'C', but the base's list has no element of that type (its types: ['A', 'B'])"),
        ('dict(_by_type_=[dict(interval=1)])', "each _by_type_ entry needs a 'type'"),
        ('dict(_by_type_=dict(type="A"))', "_by_type_ must be a list of dicts"),
        ('dict(_by_type_=[dict(type="A")], other=1)', "a _by_type_ patch may hold nothing else"),
    ],
)  # fmt: skip
def test_by_type_errors_name_the_problem(tree, tmp_path, hooks, message):
    path = write(tmp_path / "bad.py", f'_base_ = "mid.py"\nhooks = {hooks}\n')
    with pytest.raises(ConfigError) as exc:
        load_config(path, strict=False)
    assert message in str(exc.value)


def test_by_type_needs_exactly_one_match_and_a_base_list(tree, tmp_path):
    write(tmp_path / "twice.py", '_base_ = "mid.py"\nhooks = [dict(type="A"), dict(type="A")]\n')
    path = write(
        tmp_path / "ambiguous.py", '_base_ = "twice.py"\nhooks = dict(_by_type_=[dict(type="A", x=1)])\n'
    )
    with pytest.raises(ConfigError, match="has 2 elements of that type"):
        load_config(path, strict=False)
    orphan = write(
        tmp_path / "orphan.py", 'data = dict(train=dict(transform=dict(_by_type_=[dict(type="G")])))\n'
    )
    with pytest.raises(ConfigError, match=r"_by_type_ at data\.train\.transform patches a list that no base"):
        load_config(orphan, strict=False)

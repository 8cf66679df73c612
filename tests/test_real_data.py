import os
import subprocess
import sys

from real_data import ENV_VAR, REAL_DATA, real_path, skip_unless_real

TESTS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTS)


def _real_data_in_subprocess(env_value):
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    if env_value is not None:
        env[ENV_VAR] = env_value
    out = subprocess.run(
        [sys.executable, "-c", "import real_data; print(real_data.REAL_DATA)"],
        cwd=TESTS,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def test_location_is_relative_to_the_repository_unless_the_env_var_says_otherwise(tmp_path):
    default = os.path.normpath(os.path.join(REPO, "..", "shared", "data", "real"))
    assert _real_data_in_subprocess(None) == default
    assert _real_data_in_subprocess("") == default
    assert _real_data_in_subprocess(str(tmp_path)) == str(tmp_path)


def test_missing_samples_skip_with_a_reason_naming_path_and_env_var():
    mark = skip_unless_real("no_such_dataset", "x.bin")
    missing = real_path("no_such_dataset", "x.bin")
    assert missing == os.path.join(REAL_DATA, "no_such_dataset", "x.bin")
    assert mark.name == "skipif" and mark.args == (True,)
    assert missing in mark.kwargs["reason"] and ENV_VAR in mark.kwargs["reason"]
    assert skip_unless_real().args == (not os.path.exists(REAL_DATA),)

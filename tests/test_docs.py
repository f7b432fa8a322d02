"""The README documents every setting and the commands that exist."""

from pathlib import Path

from numcheck.config import Settings

README = (Path(__file__).parents[1] / "README.md").read_text()


def test_every_setting_is_in_the_readme() -> None:
    missing = [name for name in Settings.model_fields if f"NUMCHECK_{name.upper()}" not in README]
    assert missing == [], f"settings missing from README: {missing}"


# Read by the client commands, not the server; and by the test suite.
CLIENT_VARIABLES = {"SERVER", "API_KEY", "PROFILE"}
TEST_VARIABLES = {"TEST_MODES", "TEST_POSTGRES"}


def test_every_documented_setting_exists() -> None:
    import re

    documented = set(re.findall(r"NUMCHECK_([A-Z_]+[A-Z])", README))
    known = {name.upper() for name in Settings.model_fields} | CLIENT_VARIABLES | TEST_VARIABLES
    assert documented <= known


def test_readme_set_up_commands_exist() -> None:
    root = Path(__file__).parents[1]
    for command in ("scripts/serve", "scripts/test"):
        assert command in README
        assert (root / command).is_file()

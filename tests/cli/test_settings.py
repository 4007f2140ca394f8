"""`rag settings` as a real subprocess."""

from rag.config import Settings
from tests.cli import rag


def test_settings_lists_every_variable():
    result = rag("settings")
    assert result.returncode == 0
    for key, _, _ in Settings.describe():
        assert key in result.stdout

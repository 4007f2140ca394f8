"""`rag settings`: every setting with its environment variable, current value, default and help.

Owns the listing; leaves the settings themselves (`RAG_*` variables, defaults, help) to `rag.config.Settings`.
"""

from __future__ import annotations

import click

from rag.cli.shared import make_settings
from rag.config import Settings


@click.command("settings")
def settings_command() -> None:
    """List every setting with its environment variable, current value and help."""
    current = make_settings(None, None)
    for key, default, help_text in Settings.describe():
        value = getattr(current, key[4:].lower())
        click.echo(f"{key}={value}  (default {default})\n    {help_text}")

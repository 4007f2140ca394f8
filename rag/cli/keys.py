"""`rag keys` and `rag audit`: managing API keys and reading the audit trail.

`rag keys add NAME --groups hr,staff [--admin]` prints the new key alone on its last line, once; only its salted hash
is kept. `rag audit tail` prints the latest records, `rag audit search --doc ID` every record that returned that
document (who saw it, when, through which route). Owns these commands and their output; leaves the key store and the
trail to `rag.access`, and the access a `rag` command acts with (`RAG_API_KEY`) to `rag.cli.shared.key_access`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from rag.cli.shared import json_option
from rag.config import Settings

if TYPE_CHECKING:
    from rag.access.audit import AuditRecord


@click.group("keys")
def keys_group() -> None:
    """API keys: each reads the documents of its groups; admin keys may also call the admin routes."""


@keys_group.command("add")
@click.argument("name")
@click.option("--groups", default="", help="Comma-separated groups whose documents the key reads (`*`: every document).")
@click.option("--admin", is_flag=True, help="May call admin routes (reload, metrics, corpus health, document uploads and their builds).")
def keys_add(name: str, groups: str, admin: bool) -> None:
    """Make a key; it is printed once, alone on the last line."""
    from rag.access.keys import KeyStore

    record, key = KeyStore(Settings.from_env()).add(name, groups, admin)
    click.echo(f"added key {record.name} (id {record.key_id}, groups {', '.join(record.groups) or 'none'}"
               f"{', admin' if record.admin else ''}); it is shown only now: send it as `Authorization: Bearer <key>`")
    click.echo(key)


@keys_group.command("list")
@json_option("One JSON object per key.")
def keys_list(as_json: bool) -> None:
    """Every key: name, id, groups, admin, when made and revoked (never the key)."""
    from rag.access.keys import KeyStore

    rows = KeyStore(Settings.from_env()).list()
    if as_json:
        click.echo("\n".join(json.dumps(r.to_dict()) for r in rows))
        return
    if not rows:
        click.echo("no API keys: the server serves every document, on loopback only; add one with `rag keys add NAME --groups ...`")
    for r in rows:
        state = f"revoked {r.revoked_at}" if r.revoked_at else "active"
        click.echo(f"{r.name}\t{r.key_id}\t{','.join(r.groups) or '-'}\t{'admin' if r.admin else '-'}\t{r.created_at}\t{state}")


@keys_group.command("revoke")
@click.argument("name")
def keys_revoke(name: str) -> None:
    """Revoke a key for good (a running server refuses it within a second)."""
    from rag.access.keys import KeyStore

    record = KeyStore(Settings.from_env()).revoke(name)
    click.echo(f"revoked key {record.name} at {record.revoked_at}")


@click.group("audit")
def audit_group() -> None:
    """The audit trail: who was shown which documents (RAG_STATE_DIR/audit.jsonl)."""


def _print(records: list[AuditRecord], as_json: bool) -> None:
    for r in records:
        if as_json:
            click.echo(json.dumps(r.to_dict(), ensure_ascii=False))
            continue
        asked = f"\t{r.question!r}" if r.question is not None else ""
        click.echo(f"{r.time}\t{r.key}\t{r.route}\t{r.status}\t{r.build_id}\t{','.join(r.documents) or '-'}{asked}")


@audit_group.command("tail")
@click.option("-n", "n", type=click.IntRange(min=1), default=20, show_default=True, help="Records to show.")
@json_option("One JSON object per record.")
def audit_tail(n: int, as_json: bool) -> None:
    """The latest records, oldest first."""
    from rag.access.audit import AuditLog

    _print(AuditLog(Settings.from_env()).tail(n), as_json)


@audit_group.command("search")
@click.option("--doc", "doc_id", default=None, help="Records that returned this document.")
@click.option("--key", "key_name", default=None, help="Records of this key's name.")
@json_option("One JSON object per record.")
def audit_search(doc_id: str | None, key_name: str | None, as_json: bool) -> None:
    """Who saw a document (or what a key saw), oldest first."""
    from rag.access.audit import AuditLog

    if doc_id is None and key_name is None:
        raise click.UsageError("pass --doc ID and/or --key NAME")
    _print(AuditLog(Settings.from_env()).search(doc_id, key_name), as_json)

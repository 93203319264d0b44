"""``pipeline-engine pipelines …``: a tenant's named pipelines, their versions, diffs, rollbacks,
aliases and audit log, through the SDK's named-pipeline methods.

Every write is an admin's; every read a viewer's. Exit codes: :mod:`pipeline_engine.cli._failures`
(a stale ``--if-match`` or an archived pipeline is 5, an unknown name or version 3).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from pipeline_engine.cli._failures import EXIT_INVALID, CliFailure
from pipeline_engine.cli._output import console, print_json
from pipeline_engine.cli._remote import JsonOption, TokenOption, UrlOption, remote_client
from pipeline_engine.errors import NotFound

if TYPE_CHECKING:
    from pipeline_engine.versions import PipelineAlias, PipelineVersion

__all__ = ["COMMANDS", "document_of"]

TenantOption = typer.Option(..., "--tenant", help="Tenant id.")
NameArgument = typer.Argument(..., help="The pipeline's name (the tenant config's: default).")
MessageOption = typer.Option(None, "--message", "-m", help="Why (kept with the version).")


def document_of(text: str, source: str) -> tuple[str, Any]:
    """Which field a file's JSON goes in, and the document: a whole config (it has a
    ``definition``) goes as ``config``, a DSL tree as ``pipeline_definition``; the output of
    ``pipelines show --json`` (either field beside the metadata) round-trips."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise CliFailure(f"{source} is not valid JSON: {exc}", exit_code=EXIT_INVALID) from None
    if isinstance(value, dict):
        for field in ("pipeline_definition", "config"):
            if value.get(field) is not None:
                return field, value[field]
        if "definition" in value:
            return "config", value
    return "pipeline_definition", value


def _when(version: PipelineVersion) -> str:
    return f"{version.created_at:%Y-%m-%d %H:%M:%S}"


def _print_version(version: PipelineVersion, *, as_json: bool, verb: str) -> None:
    if as_json:
        print_json(version)
        return
    console.print(
        f"{verb} [bold]{version.name}[/bold] version {version.version} "
        f"(digest {version.digest[:12]})",
        highlight=False,
    )


def _alias_text(alias: PipelineAlias) -> str:
    text = f"{alias.alias}->v{alias.version}"
    if alias.canary_version is not None:
        text += f" (canary v{alias.canary_version} {alias.canary_percent:g}%)"
    return text


def list_(
    tenant: str = TenantOption,
    as_json: bool = JsonOption,
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """The tenant's named pipelines: latest version and aliases."""
    with remote_client(url, token) as client:
        found = client.list_named_pipelines(tenant_id=tenant)
    if as_json:
        print_json(found)
        return
    from rich.table import Table

    table = Table("name", "latest", "aliases", "updated", "archived")
    for item in found.items:
        table.add_row(
            item.name,
            str(item.latest_version),
            ", ".join(_alias_text(a) for a in item.aliases.values()),
            f"{item.updated_at:%Y-%m-%d %H:%M:%S}",
            "yes" if item.archived else "",
        )
    console.print(table)


def show(
    name: str = NameArgument,
    version: int | None = typer.Option(None, "--version", min=1, help="Default: the latest."),
    tenant: str = TenantOption,
    as_json: bool = JsonOption,
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """One version: who wrote it, when, why, its digest, and its document (as JSON)."""
    with remote_client(url, token) as client:
        stored = client.get_pipeline_version(name, version, tenant_id=tenant)
    if as_json:
        print_json(stored)
        return
    console.print(
        f"[bold]{stored.name}[/bold] version {stored.version}  {_when(stored)}  "
        f"by {stored.created_by or '?'}  digest {stored.digest}",
        highlight=False,
    )
    if stored.message:
        console.print(f"message: {stored.message}", markup=False, highlight=False)
    console.print(f"{stored.field}:", highlight=False)
    typer.echo(json.dumps(stored.document, indent=2))


def push(
    name: str = NameArgument,
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="A DSL tree or a whole config (JSON)."
    ),
    message: str | None = MessageOption,
    if_match: int | None = typer.Option(
        None, "--if-match", min=0, help="Write only if this is the latest version (0: new name)."
    ),
    tenant: str = TenantOption,
    as_json: bool = JsonOption,
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """Write FILE as the pipeline's next version (none when it equals the latest)."""
    field, document = document_of(file.read_text(), str(file))
    with remote_client(url, token) as client:
        try:
            before = client.get_pipeline_version(name, tenant_id=tenant).version
        except NotFound:
            before = 0
        written = client.push_pipeline_version(
            name, message=message, if_match=if_match, tenant_id=tenant, **{field: document}
        )
    unchanged = written.version == before
    _print_version(
        written, as_json=as_json, verb="unchanged (equal to the latest):" if unchanged else "pushed"
    )


def diff(
    name: str = NameArgument,
    from_version: int = typer.Option(..., "--from", min=1, help="The older version."),
    to_version: int = typer.Option(..., "--to", min=1, help="The newer version."),
    tenant: str = TenantOption,
    as_json: bool = JsonOption,
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """What changed from one version to another (RFC 6902 JSON Patch operations)."""
    with remote_client(url, token) as client:
        patch = client.diff_pipeline_versions(name, from_version, to_version, tenant_id=tenant)
    if as_json:
        print_json(patch)
        return
    if not patch:
        console.print(f"versions {from_version} and {to_version} are equal", highlight=False)
        return
    styles = {"add": "green", "remove": "red", "replace": "yellow"}
    for op in patch:
        value = f" {json.dumps(op['value'])}" if "value" in op else ""
        source = f" from {op['from']}" if "from" in op else ""
        style = styles.get(op["op"], "cyan")
        console.print(
            f"[{style}]{op['op']:<8}[/{style}] {op['path']}{source}{value}", highlight=False
        )


def rollback(
    name: str = NameArgument,
    to: int = typer.Option(..., "--to", min=1, help="The version to copy."),
    message: str | None = MessageOption,
    tenant: str = TenantOption,
    as_json: bool = JsonOption,
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """Write a new version equal to version --to (the same digest)."""
    with remote_client(url, token) as client:
        written = client.rollback_pipeline(name, to, message=message, tenant_id=tenant)
    _print_version(written, as_json=as_json, verb=f"rolled back to version {to}:")


def alias(
    name: str = NameArgument,
    alias_name: str = typer.Argument(..., metavar="ALIAS", help="The alias, e.g. live."),
    version: int = typer.Option(..., "--version", min=1, help="The version it runs."),
    canary_version: int | None = typer.Option(
        None, "--canary-version", min=1, help="Another version a share of runs gets."
    ),
    canary_percent: float | None = typer.Option(
        None, "--canary-percent", min=0, max=100, help="That share, 0 to 100 (by input hash)."
    ),
    tenant: str = TenantOption,
    as_json: bool = JsonOption,
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """Point an alias at a version, optionally with a canary share."""
    with remote_client(url, token) as client:
        pointed = client.set_pipeline_alias(
            name,
            alias_name,
            version,
            canary_version=canary_version,
            canary_percent=canary_percent,
            tenant_id=tenant,
        )
    if as_json:
        print_json(pointed)
    else:
        console.print(f"{name}: {_alias_text(pointed)}", highlight=False)


def history(
    name: str = NameArgument,
    page_size: int = typer.Option(20, "--page-size", min=1, max=1000, help="Rows per page."),
    page_token: str | None = typer.Option(None, "--page-token", help="The next page."),
    tenant: str = TenantOption,
    as_json: bool = JsonOption,
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """The pipeline's versions, newest first: who, when, why, digest."""
    with remote_client(url, token) as client:
        page = client.list_pipeline_versions(
            name, page_size=page_size, page_token=page_token, tenant_id=tenant
        )
    if as_json:
        print_json(page)
        return
    from rich.table import Table

    table = Table("version", "created", "by", "digest", "message")
    for item in page.items:
        table.add_row(
            str(item.version), _when(item), item.created_by or "", item.digest[:12], item.message
        )
    console.print(table)
    if page.next_page_token:
        console.print(f"next page: --page-token {page.next_page_token}")


def archive(
    name: str = NameArgument,
    tenant: str = TenantOption,
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """Archive a pipeline: its versions stay readable, it can no longer be run."""
    with remote_client(url, token) as client:
        client.archive_pipeline(name, tenant_id=tenant)
    console.print(f"archived {name}", highlight=False)


def audit(
    tenant: str = TenantOption,
    pipeline: str | None = typer.Option(None, "--pipeline", help="Only this pipeline's."),
    page_size: int = typer.Option(50, "--page-size", min=1, max=1000, help="Rows per page."),
    page_token: str | None = typer.Option(None, "--page-token", help="The next page."),
    as_json: bool = JsonOption,
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """Who changed what in the tenant's pipelines, newest first (admins)."""
    with remote_client(url, token) as client:
        page = client.get_audit(
            pipeline=pipeline, page_size=page_size, page_token=page_token, tenant_id=tenant
        )
    if as_json:
        print_json(page)
        return
    for r in page.items:
        where = f"{r.pipeline or ''}" + (f" v{r.version}" if r.version is not None else "")
        console.print(
            f"{r.at:%Y-%m-%d %H:%M:%S}  {r.actor or '?':<12} {r.action:<26} {where}  "
            f"{r.message or ''}",
            markup=False,
            highlight=False,
        )
    if page.next_page_token:
        console.print(f"next page: --page-token {page.next_page_token}")


#: (name, function) of every ``pipelines`` subcommand, in help order.
COMMANDS = (
    ("list", list_),
    ("show", show),
    ("push", push),
    ("diff", diff),
    ("rollback", rollback),
    ("alias", alias),
    ("history", history),
    ("archive", archive),
    ("audit", audit),
)

"""Commands that talk to or run the API: token, api (owned by the front-door work)."""

from __future__ import annotations

import asyncio

import typer

from pipeline_engine.cli._app import app


@app.command()
def token(
    sub: str = typer.Option(..., "--sub", help="Subject: the service account's name."),
    role: list[str] = typer.Option(
        ..., "--role", help="viewer, operator, approver or admin (repeatable)."
    ),
    tenant: list[str] = typer.Option(
        ..., "--tenant", help="A tenant id the token may see (repeatable; '*' for all)."
    ),
    ttl: float = typer.Option(3600.0, "--ttl", help="Lifetime in seconds."),
) -> None:
    """Mint a bearer token for a service account (signed with PIPELINE_ENGINE_JWT_SECRET)."""
    from api.auth import Role, mint_token
    from pipeline_engine.settings import Settings

    known = {r.value for r in Role}
    unknown = [r for r in role if r not in known]
    if unknown:
        raise typer.BadParameter(
            f"unknown role(s) {unknown}; use {sorted(known)}", param_hint="--role"
        )
    if ttl <= 0:
        raise typer.BadParameter("must be positive", param_hint="--ttl")
    settings = Settings()
    typer.echo(mint_token(settings.jwt_secret, sub=sub, roles=role, tenants=tenant, ttl_s=ttl))


@app.command()
def api(
    host: str | None = typer.Option(None, help="Bind address (default: settings.api_host)."),
    port: int | None = typer.Option(None, help="Port (default: settings.api_port)."),
) -> None:
    """Run the REST API alone (settings from PIPELINE_ENGINE_* variables)."""
    from api.serve import serve_api
    from pipeline_engine.settings import Settings

    settings = Settings()
    updates = {k: v for k, v in {"api_host": host, "api_port": port}.items() if v is not None}
    if updates:
        settings = settings.model_copy(update=updates)
    try:
        asyncio.run(serve_api(settings))
    except KeyboardInterrupt:
        return
    except RuntimeError as exc:  # e.g. the JWT secret check outside dev
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None

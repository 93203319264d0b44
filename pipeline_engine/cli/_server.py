"""Commands of the server side: token (mint a bearer token) and api (run the REST API alone)."""

from __future__ import annotations

import typer

from pipeline_engine.cli._failures import EXIT_INVALID, CliFailure
from pipeline_engine.cli._stack import Port, StepsOption, check_ports, load_steps, with_steps

__all__ = ["COMMANDS"]


def token(
    sub: str = typer.Option(..., "--sub", help="Subject: the service account's name."),
    role: list[str] = typer.Option(
        ..., "--role", help="viewer, operator, approver or admin (repeatable)."
    ),
    tenant: list[str] = typer.Option(
        ..., "--tenant", help="A tenant id the token may see (repeatable; '*' for all)."
    ),
    ttl: float = typer.Option(3600.0, "--ttl", help="Lifetime in seconds."),
    dev_secret: bool = typer.Option(
        False,
        "--dev-secret",
        help="Sign with the dev default secret (only a `pipeline-engine dev` stack accepts it).",
    ),
) -> None:
    """Mint a bearer token for a service account (signed with PIPELINE_ENGINE_JWT_SECRET, or the
    key of PIPELINE_ENGINE_JWT_SIGNING_KID; with the server's issuer and audience)."""
    from api.auth import Role, mint_token
    from pipeline_engine.settings import DEV_JWT_SECRET, Settings

    known = {r.value for r in Role}
    unknown = [r for r in role if r not in known]
    if unknown:
        raise typer.BadParameter(
            f"unknown role(s) {unknown}; use {sorted(known)}", param_hint="--role"
        )
    if ttl <= 0:
        raise typer.BadParameter("must be positive", param_hint="--ttl")
    settings = Settings()
    kid = settings.jwt_signing_kid
    if kid is not None and kid not in settings.jwt_keys:
        raise CliFailure(
            f"PIPELINE_ENGINE_JWT_SIGNING_KID {kid!r} names no key of PIPELINE_ENGINE_JWT_KEYS",
            exit_code=EXIT_INVALID,
        )
    secret = settings.jwt_keys[kid] if kid is not None else settings.jwt_secret
    if secret.get_secret_value() == DEV_JWT_SECRET and not dev_secret:
        raise CliFailure(
            "PIPELINE_ENGINE_JWT_SECRET is not set: the token would be signed with the dev "
            "default, which only a `pipeline-engine dev` stack accepts; set the server's secret, "
            "or pass --dev-secret to mean it",
            exit_code=EXIT_INVALID,
        )
    if ttl > settings.jwt_max_ttl_s:
        raise typer.BadParameter(
            f"over the server's longest lifetime ({settings.jwt_max_ttl_s:.0f} s, "
            "PIPELINE_ENGINE_JWT_MAX_TTL_S)",
            param_hint="--ttl",
        )
    typer.echo(
        mint_token(
            secret,
            sub=sub,
            roles=role,
            tenants=tenant,
            ttl_s=ttl,
            kid=kid,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
    )


def api(
    host: str | None = typer.Option(
        None, "--host", help="Bind address (default: PIPELINE_ENGINE_API_HOST)."
    ),
    port: int | None = typer.Option(
        None, "--port", help="Port (default: PIPELINE_ENGINE_API_PORT)."
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        min=1,
        max=64,
        help="Worker processes sharing the port (default: PIPELINE_ENGINE_API_WORKERS, 1).",
    ),
    steps: str | None = StepsOption,
) -> None:
    """Run the REST API alone until Ctrl-C (settings from PIPELINE_ENGINE_* variables)."""
    from api.serve import run_api
    from pipeline_engine.settings import Settings

    settings = Settings()
    options = {"api_host": host, "api_port": port, "api_workers": workers}
    updates = {k: v for k, v in options.items() if v is not None}
    if updates:
        settings = settings.model_copy(update=updates)
    settings = with_steps(settings, steps)
    load_steps(settings.step_modules)
    check_ports([Port(settings.api_port, "API", "--port", host=settings.api_host)])
    try:
        run_api(settings)
    except KeyboardInterrupt:
        return
    except RuntimeError as exc:  # e.g. the JWT secret check outside dev
        raise CliFailure(str(exc), exit_code=EXIT_INVALID) from None


#: (name, function) of every command of this module, in help order.
COMMANDS = (("token", token), ("api", api))

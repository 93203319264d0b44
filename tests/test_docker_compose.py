"""docker-compose.yml: Docker cannot run here, so check its structure and wiring."""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
import threading
import tomllib
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from pipeline_engine.cli import app
from pipeline_engine.settings import Settings
from workflows.connection import TemporalSecurity
from workflows.dev_server import temporal_cli
from workflows.names import SEARCH_ATTRIBUTES
from workflows.search_attributes import type_name

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def env(service: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in service.get("environment", {}).items()}


def test_services_of_the_production_shape(compose: dict[str, Any]) -> None:
    assert {
        "postgresql", "temporal-schema", "temporal", "temporal-setup", "temporal-ui", "api",
        "worker",
    } <= set(compose["services"])  # fmt: skip
    assert compose["services"]["temporal"]["image"].startswith("temporalio/server:")
    assert compose["services"]["temporal-ui"]["image"].startswith("temporalio/ui")
    assert compose["services"]["postgresql"]["image"].startswith("postgres")


def test_dependencies_wait_for_health(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dep, cond in service.get("depends_on", {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            condition = cond["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{dep} has no healthcheck"
    assert services["temporal-schema"]["depends_on"]["postgresql"]["condition"] == "service_healthy"
    schema_done = services["temporal"]["depends_on"]["temporal-schema"]["condition"]
    assert schema_done == "service_completed_successfully"
    for role in ("api", "worker"):
        assert (
            services[role]["depends_on"]["temporal-setup"]["condition"]
            == "service_completed_successfully"
        )
        assert "healthcheck" in services[role]


def test_temporal_reads_the_tuned_dynamic_config(compose: dict[str, Any]) -> None:
    temporal = compose["services"]["temporal"]
    path = env(temporal)["DYNAMIC_CONFIG_FILE_PATH"]
    mounts = {m.split(":")[1]: m.split(":")[0] for m in temporal["volumes"]}
    source = mounts[f"/etc/temporal/{path}"]  # the image resolves the path from /etc/temporal
    text = (ROOT / source).read_text()
    config = yaml.safe_load(text)
    assert config["history.transferProcessorMaxPollRPS"][0]["value"] > 20  # the default paces
    assert config["matching.enableFairness"][0]["value"] is True
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line and not line.startswith((" ", "#")):  # a key: the reason sits just above it
            assert lines[i - 1].startswith("#"), f"{line} has no reason written above it"
            assert line.rstrip(":") in config
    for key, values in config.items():
        assert [set(v) for v in values] == [{"value"}], key


def test_images_are_the_versions_the_tests_run(compose: dict[str, Any]) -> None:
    """Server and UI images on the lines of the embedded dev server the whole suite runs on."""
    version = subprocess.run(
        [temporal_cli(), "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    found = re.search(r"Server (\d+\.\d+\.\d+), UI (\d+\.\d+\.\d+)", version)
    assert found, version
    server, ui = found.groups()
    services = compose["services"]
    assert services["temporal"]["image"] == f"temporalio/server:{server}"
    for setup in ("temporal-schema", "temporal-setup"):
        assert services[setup]["image"] == f"temporalio/admin-tools:{server}"
    assert services["temporal-ui"]["image"] == f"temporalio/ui:{ui}"
    assert f"server {server} and Web UI {ui}" in (ROOT / "docker-compose.yml").read_text()


def test_schema_then_namespace_then_search_attributes(compose: dict[str, Any]) -> None:
    schema = " ".join(compose["services"]["temporal-schema"]["command"])
    assert "temporal-sql-tool" in schema and "update-schema" in schema
    for db in ("temporal", "temporal_visibility"):
        assert db in schema
    script = " ".join(compose["services"]["temporal-setup"]["command"])
    assert "namespace create -n default" in script
    assert "search-attribute create" in script and '--type "$${sa#*:}"' in script
    for key in SEARCH_ATTRIBUTES:  # the one list, each with its type
        assert f"{key.name}:{type_name(key)}" in script


def test_engine_wiring(compose: dict[str, Any]) -> None:
    services = compose["services"]
    temporal_port = 7233
    pg = services["postgresql"]["environment"]
    for role in ("api", "worker", "worker-heavy"):
        e = env(services[role])
        assert e["PIPELINE_ENGINE_TEMPORAL_ADDRESS"] == f"temporal:{temporal_port}"
        url = e["PIPELINE_ENGINE_DATABASE_URL"]
        assert url.startswith("postgresql+psycopg://pipeline_api:") and "@postgresql:5432/" in url
        assert url.endswith("/pipeline_engine")
        assert e["PIPELINE_ENGINE_ENV"] == "prod"
        # secrets only from the environment, and required
        for secret in ("PIPELINE_ENGINE_JWT_SECRET", "PIPELINE_ENGINE_ID_SECRET"):
            assert re.fullmatch(rf"\$\{{{secret}:\?.+\}}", e[secret]), secret
        assert "${API_DB_PASSWORD:?" in url
    assert pg["POSTGRES_USER"] == "postgres"  # the superuser: for the init script only


def test_published_ports_bind_loopback_and_workers_scale(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on all interfaces"
    worker = compose["services"]["worker"]
    assert "ports" not in worker and "container_name" not in worker  # so --scale works
    assert worker["deploy"]["replicas"] >= 1


def test_commands_exist() -> None:
    runner = CliRunner()
    for args in (["api", "--help"], ["worker", "--help"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    assert "--activities-only" in runner.invoke(app, ["worker", "--help"]).output


def test_dockerfile_copies_every_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = pattern.rstrip("*")
        assert f"COPY {package} ./{package}" in dockerfile
    for module in project["tool"]["setuptools"]["py-modules"]:
        assert f"COPY {module}.py" in dockerfile


def test_workers_get_more_than_the_drain_period_to_stop(compose: dict[str, Any]) -> None:
    drain = Settings.model_fields["worker_drain_s"].default
    for role in ("worker", "worker-heavy"):
        grace = compose["services"][role]["stop_grace_period"]
        assert grace.endswith("s") and float(grace[:-1]) > drain, (role, grace)


def test_api_and_workers_share_one_payload_store(compose: dict[str, Any]) -> None:
    services = compose["services"]
    engines = ["api", "worker", "worker-heavy"]
    stores = {env(services[name])["PIPELINE_ENGINE_PAYLOAD_STORE"] for name in engines}
    assert stores == {"${PIPELINE_ENGINE_PAYLOAD_STORE:-/payloads}"}
    for name in engines:
        assert "payloads:/payloads" in services[name]["volumes"], name
    assert "payloads" in compose["volumes"]


# ---------------------------------------------------------------- the second front door (issue 19)
CLIENTS = {"api": "api", "worker": "worker", "worker-heavy": "worker", "temporal-setup": "admin"}
CLIENTS["temporal-ui"] = "admin"


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> host path of a service's bind mounts."""
    out = {}
    for m in service.get("volumes", []):
        source, target = m.split(":")[:2]
        out[target] = source
    return out


def test_temporal_and_the_api_have_database_roles_of_their_own(compose: dict[str, Any]) -> None:
    services = compose["services"]
    pg = services["postgresql"]
    mounts = _mounts(pg)
    assert mounts["/docker-entrypoint-initdb.d/10-roles.sh"] == "./deploy/postgres/10-roles.sh"
    assert mounts["/etc/pipeline-engine/roles.sql"] == "./deploy/postgres/roles.sql"
    init = (ROOT / "deploy/postgres/10-roles.sh").read_text()
    for var in ("temporal_role=temporal", "api_role=pipeline_api", "api_db=pipeline_engine"):
        assert var in init
    for password in ("TEMPORAL_DB_PASSWORD", "API_DB_PASSWORD"):
        assert env(pg)[password] == f"${{{password}:?set {password}}}"
    assert "-d pipeline_engine" in " ".join(pg["healthcheck"]["test"])
    temporal = env(services["temporal"])
    assert temporal["POSTGRES_USER"] == "temporal"
    assert temporal["POSTGRES_PWD"].startswith("${TEMPORAL_DB_PASSWORD:?")
    schema = services["temporal-schema"]
    assert "-u temporal " in " ".join(schema["command"])
    assert env(schema)["SQL_PASSWORD"].startswith("${TEMPORAL_DB_PASSWORD:?")
    for name, service in services.items():  # the superuser's password: postgresql's alone
        if name != "postgresql":
            assert "POSTGRES_PASSWORD" not in yaml.safe_dump(service), name


def _psql(*args: str, user: str = "", db: str = "test") -> subprocess.CompletedProcess[str]:
    base = ["psql", "-h", "127.0.0.1", "-p", "5432", "-d", db, "-X", "-q"]
    if user:
        base += ["-U", user]
    return subprocess.run([*base, *args], capture_output=True, text=True, timeout=60)


def test_the_roles_script_on_a_real_postgresql() -> None:
    """deploy/postgres/roles.sql run by psql on the suite's PostgreSQL (names made unique): each
    role reaches its own databases only."""
    tag = uuid.uuid4().hex[:8]
    names = {
        "temporal_role": f"t_{tag}",
        "api_role": f"a_{tag}",
        "temporal_db": f"tdb_{tag}",
        "visibility_db": f"vdb_{tag}",
        "api_db": f"adb_{tag}",
    }
    variables = [f"-v{k}={v}" for k, v in names.items()]
    variables += ["-vtemporal_password=pw-t", "-vapi_password=pw-a"]
    try:
        done = _psql(*variables, "-f", str(ROOT / "deploy/postgres/roles.sql"))
        assert done.returncode == 0, done.stderr
        api, temporal = names["api_role"], names["temporal_role"]
        made = _psql("-c", "CREATE TABLE t (x int); INSERT INTO t VALUES (1)", user=api,
                     db=names["api_db"])  # fmt: skip
        assert made.returncode == 0, made.stderr  # the API migrates its own database
        made = _psql("-c", "CREATE TABLE h (x int)", user=temporal, db=names["temporal_db"])
        assert made.returncode == 0, made.stderr
        for user, db in (
            (api, names["temporal_db"]),
            (api, names["visibility_db"]),
            (temporal, names["api_db"]),
        ):
            refused = _psql("-c", "SELECT 1", user=user, db=db)
            assert refused.returncode != 0 and "permission denied" in refused.stderr, (user, db)
        for user in (api, temporal):
            refused = _psql("-c", f"CREATE DATABASE x_{tag}", user=user)
            assert refused.returncode != 0 and "permission denied" in refused.stderr
            attrs = _psql(
                "-tAc", f"SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = '{user}'"
            )
            assert attrs.stdout.strip() == "f|f"
    finally:
        for key in ("temporal_db", "visibility_db", "api_db"):
            _psql("-c", f'DROP DATABASE IF EXISTS "{names[key]}"')
        for key in ("temporal_role", "api_role"):
            _psql("-c", f'DROP ROLE IF EXISTS "{names[key]}"')


def test_the_temporal_frontend_takes_mutual_tls_clients_only(compose: dict[str, Any]) -> None:
    services = compose["services"]
    temporal = services["temporal"]
    e = env(temporal)
    assert e["TEMPORAL_TLS_REQUIRE_CLIENT_AUTH"] == "true"
    assert e["TEMPORAL_TLS_CLIENT1_CA_CERT"] == "/certs/ca.pem"
    for key in ("FRONTEND_DISABLE_HOST_VERIFICATION", "INTERNODE_DISABLE_HOST_VERIFICATION"):
        assert e[f"TEMPORAL_TLS_{key}"] == "false"
    mounts = _mounts(temporal)
    for var in ("SERVER_CERT", "SERVER_KEY", "FRONTEND_CERT", "FRONTEND_KEY", "SERVER_CA_CERT"):
        assert e[f"TEMPORAL_TLS_{var}"] in mounts, var
    assert "ports" not in temporal  # the frontend is not published at all
    for name, cert in CLIENTS.items():
        service = services[name]
        mounts = _mounts(service)
        assert mounts["/certs/client.pem"] == f"./deploy/certs/{cert}.pem", name
        assert mounts["/certs/client.key"] == f"./deploy/certs/{cert}.key", name
        assert mounts["/certs/ca.pem"] == "./deploy/certs/ca.pem", name
        assert not any("ca.key" in source for source in mounts.values()), name
    for name in ("api", "worker", "worker-heavy"):  # the settings that already existed
        e = env(services[name])
        assert e["PIPELINE_ENGINE_TEMPORAL_TLS_CA_FILE"] == "/certs/ca.pem"
        assert e["PIPELINE_ENGINE_TEMPORAL_TLS_CERT_FILE"] == "/certs/client.pem"
        assert e["PIPELINE_ENGINE_TEMPORAL_TLS_KEY_FILE"] == "/certs/client.key"
        assert e["PIPELINE_ENGINE_TEMPORAL_TLS_SERVER_NAME"] == "temporal"
        assert set(Settings.model_fields) >= {
            k.removeprefix("PIPELINE_ENGINE_").lower() for k in e if k.startswith("PIPELINE_")
        }
    setup = env(services["temporal-setup"])  # the temporal CLI's own variables
    assert setup["TEMPORAL_TLS_CLIENT_CERT_PATH"] == "/certs/client.pem"
    assert setup["TEMPORAL_TLS_SERVER_CA_CERT_PATH"] == "/certs/ca.pem"
    assert env(services["temporal-ui"])["TEMPORAL_TLS_CERT"] == "/certs/client.pem"


@pytest.fixture(scope="module")
def dev_certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("certs")
    done = subprocess.run(
        ["sh", str(ROOT / "scripts/dev_certs.sh"), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return out


def test_the_dev_certificates_chain_to_the_dev_ca(dev_certs: Path) -> None:
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    ca = x509.load_pem_x509_certificate((dev_certs / "ca.pem").read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for name in ("temporal", "api", "worker", "admin"):
        verified = subprocess.run(
            [
                "openssl",
                "verify",
                "-CAfile",
                str(dev_certs / "ca.pem"),
                str(dev_certs / f"{name}.pem"),
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert verified.returncode == 0 and ": OK" in verified.stdout, verified.stderr
        cert = x509.load_pem_x509_certificate((dev_certs / f"{name}.pem").read_bytes())
        cert.verify_directly_issued_by(ca)
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert ExtendedKeyUsageOID.CLIENT_AUTH in usage, name
        assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    server = x509.load_pem_x509_certificate((dev_certs / "temporal.pem").read_bytes())
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "temporal" in names.get_values_for_type(x509.DNSName)  # the compose service name
    usage = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usage
    # the settings that already existed read them as the API and the workers will
    security = TemporalSecurity.from_settings(
        Settings(
            temporal_tls_ca_file=dev_certs / "ca.pem",
            temporal_tls_cert_file=dev_certs / "api.pem",
            temporal_tls_key_file=dev_certs / "api.key",
            temporal_tls_server_name="temporal",
        )
    )
    assert security.tls is not None and not isinstance(security.tls, bool)
    assert security.tls.domain == "temporal" and security.tls.client_cert is not None


def test_the_dev_certificates_make_a_mutual_tls_handshake(dev_certs: Path) -> None:
    """A real TLS server with Temporal's certificate, client certificates required: the API's
    certificate gets in; no certificate, or one of another CA, does not."""
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(dev_certs / "temporal.pem", dev_certs / "temporal.key")
    server_ctx.load_verify_locations(dev_certs / "ca.pem")
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    seen: list[str] = []

    def serve(count: int) -> None:
        for _ in range(count):
            conn, _ = listener.accept()
            try:
                with server_ctx.wrap_socket(conn, server_side=True) as tls:
                    peer = tls.getpeercert()
                    subject = dict(item[0] for item in peer["subject"]) if peer else {}
                    seen.append(str(subject.get("commonName")))
                    tls.sendall(b"ok")
            except (ssl.SSLError, OSError):
                seen.append("refused")

    other = dev_certs.parent / f"{dev_certs.name}-other"
    subprocess.run(["sh", str(ROOT / "scripts/dev_certs.sh"), str(other)], check=True, timeout=120)
    attempts = [
        (dev_certs / "api.pem", dev_certs / "api.key"),
        None,
        (other / "api.pem", other / "api.key"),
    ]
    thread = threading.Thread(target=serve, args=(len(attempts),), daemon=True)
    thread.start()
    answers = []
    for pair in attempts:
        ctx = ssl.create_default_context(cafile=str(dev_certs / "ca.pem"))
        if pair is not None:
            ctx.load_cert_chain(*pair)
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
                ctx.wrap_socket(raw, server_hostname="temporal") as tls,
            ):
                answers.append(tls.recv(2))
        except (ssl.SSLError, OSError):
            answers.append(b"")
    thread.join(timeout=30)
    listener.close()
    assert answers[0] == b"ok" and seen[0] == "pipeline-engine-api"
    assert answers[1:] == [b"", b""] and seen[1:] == ["refused", "refused"]

"""Configuration: file, environment overrides, secrets, and errors that name key and value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sidecar.config import load_config, redacted_url, url_passwords
from sidecar.credentials import load_secrets
from sidecar.errors import ConfigError
from sidecar.simulator import SimulatorServer
from tests.support.fixtures import MakeConfig, MakeSidecar
from tests.support.processes import STORE_ENV

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "config" / "sidecar.example.toml"
STORE = {
    "SIDECAR_MERCHANT_ID": "m-1",
    "SIDECAR_STORE_MERCHANT_NAME": "Merchant",
    "SIDECAR_BRANCH_ID": "b-1",
    "SIDECAR_STORE_BRANCH_NAME": "Branch",
    "SIDECAR_TERMINAL_ID": "t-1",
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sidecar.toml"
    path.write_text(text)
    return path


def test_config_example_file_is_valid_and_documents_every_key() -> None:
    config = load_config(EXAMPLE, {})

    text = EXAMPLE.read_text()
    for section in config.__struct_fields__:
        assert f"[{section}]" in text
        for key in getattr(config, section).__struct_fields__:
            assert f"\n{key} = " in text, f"{section}.{key} is not documented in the example"


def test_config_environment_overrides_file_and_aliases(tmp_path: Path) -> None:
    path = write(tmp_path, "[sidecar]\nport = 9000\n[budgets]\nestimate = 0.5\n")

    config = load_config(
        path,
        {
            **STORE,
            "SIDECAR_PORT": "9100",
            "SIDECAR_BUDGETS_ESTIMATE": "1.25",
            "GAMEBALL_BASE_URL": "http://127.0.0.1:1/api/v4.0",
        },
    )

    assert config.sidecar.port == 9100
    assert config.budgets.estimate == 1.25
    assert config.upstream.base_url == "http://127.0.0.1:1/api/v4.0"
    assert config.store.terminal_id == "t-1"


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("[upstream]\ntimeout = -1\n", {}, "$.upstream.timeout: expected > 0 (got -1)"),
        ("[sidecar]\nport = 70000\n", {}, "$.sidecar.port: expected <= 65535 (got 70000)"),
        ("[sidecar]\nprot = 1\n", {}, "$.sidecar.prot: unknown key"),
        ("", {"SIDECAR_PORT": "eighty"}, "$.sidecar.port: expected int, got str (got 'eighty')"),
        ("[budgets]\nhold = 0\n", {}, "$.budgets.hold: expected > 0 (got 0)"),
        ("[upstream]\napi_key = 'abc'\n", {}, "$.upstream.api_key: secrets may not be written"),
        ("[sidecar\n", {}, "not valid TOML"),
        (
            "[pacing]\nshared_url = 'redis://:hunter2-pw@10.0.0.9:6379/0'\n",
            {},
            "$.pacing.shared_url: a password may not be written in the config file",
        ),
        ("", {"SIDECAR_PACING_LOCAL_SHARE": "0"}, "$.pacing.local_share: expected > 0 (got '0')"),
        ("", {"SIDECAR_PACING_LOCAL_SHARE": "1.5"}, "$.pacing.local_share: expected <= 1"),
        (
            "[pacing]\nshared_url = 'http://r:6379'\n",
            {},
            "$.pacing.shared_url: expected matching regex",
        ),
    ],
)
def test_config_invalid_names_key_and_value(
    tmp_path: Path, text: str, env: dict[str, str], expected: str
) -> None:
    path = write(tmp_path, text)

    with pytest.raises(ConfigError) as caught:
        load_config(path, {**STORE, **env})

    assert expected in str(caught.value)


def test_config_store_identity_required(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, {"SIDECAR_MERCHANT_ID": "m-1"})

    assert "$.store.branch_id" in str(caught.value)
    assert "$.store.merchant_id" not in str(caught.value)


def test_config_secrets_from_env_then_files(tmp_path: Path) -> None:
    key_file = tmp_path / "api-key"
    key_file.write_text("file-key\n")
    key_file.chmod(0o600)
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "gameball-secret-key").write_text("cred-secret")
    (creds / "gameball-secret-key").chmod(0o600)
    config = load_config(None, STORE)

    secrets = load_secrets(
        config, {"GAMEBALL_API_KEY_FILE": str(key_file), "CREDENTIALS_DIRECTORY": str(creds)}
    )
    overridden = load_secrets(config, {"GAMEBALL_API_KEY": "env-key"})

    assert (secrets.api_key, secrets.secret_key) == ("file-key", "cred-secret")
    assert overridden.api_key == "env-key"
    assert "file-key" not in repr(secrets) and "cred-secret" not in repr(secrets)


def test_config_world_readable_secret_file_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "api-key"
    key_file.write_text("k")
    key_file.chmod(0o644)

    with pytest.raises(ConfigError) as caught:
        load_secrets(load_config(None, STORE), {"GAMEBALL_API_KEY_FILE": str(key_file)})

    assert "chmod 600" in str(caught.value)


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sidecar", *args],
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", ""), **env},
        timeout=60,
        check=False,
    )


def test_cli_check_config_exit_codes(tmp_path: Path) -> None:
    bad = write(tmp_path, "[upstream]\ntimeout = 0\n")
    keys = {"GAMEBALL_API_KEY": "k-123", "GAMEBALL_SECRET_KEY": "s-456"}

    ok = run_cli("check-config", "--config", str(EXAMPLE), env=keys)
    invalid = run_cli("check-config", "--config", str(bad), env={**STORE, **keys})
    no_keys = run_cli("check-config", "--config", str(EXAMPLE), env={})

    assert ok.returncode == 0, ok.stderr
    assert "configuration OK" in ok.stdout and "k-123" not in ok.stdout
    assert invalid.returncode == 2
    assert "$.upstream.timeout: expected > 0 (got 0)" in invalid.stderr
    assert no_keys.returncode == 2 and "MISSING" in no_keys.stdout


def test_cli_serve_with_invalid_config_exits_2(tmp_path: Path) -> None:
    bad = write(tmp_path, "[sidecar]\nport = -5\n")

    result = run_cli("serve", "--config", str(bad), env=STORE)

    assert result.returncode == 2
    assert "$.sidecar.port: expected >= 0 (got -5)" in result.stderr


def test_config_store_names_are_optional() -> None:
    """Defect 14: merchant_name and branch_name were required, though Gameball's spec makes
    names optional (only branch.uniqueId is required)."""
    config = load_config(
        None, {"SIDECAR_MERCHANT_ID": "m-1", "SIDECAR_BRANCH_ID": "b-1", "SIDECAR_TERMINAL_ID": "t"}
    )

    assert (config.store.merchant_name, config.store.branch_name) == ("", "")


@pytest.mark.parametrize("host", ["127.evil.example", "127.0.0.1.nip.io", "0.0.0.0", "::", "lan"])
def test_config_names_that_only_look_like_loopback_need_a_token(host: str) -> None:
    """Defect 14: SIDECAR_HOST=127.evil.example passed the loopback check (a string prefix)."""
    config = load_config(None, {**STORE, "SIDECAR_HOST": host})

    with pytest.raises(ConfigError) as caught:
        load_secrets(config, {})

    assert "$.sidecar.host" in str(caught.value) and "access token" in str(caught.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.2.1", "::1", "localhost"])
def test_config_loopback_addresses_need_no_token(host: str) -> None:
    config = load_config(None, {**STORE, "SIDECAR_HOST": host})

    assert load_secrets(config, {}).access_token == ""


def test_config_allowed_hosts_from_env_and_checked() -> None:
    config = load_config(None, {**STORE, "SIDECAR_SIDECAR_ALLOWED_HOSTS": "till-3.local, ::1"})
    with pytest.raises(ConfigError) as caught:
        load_config(None, {**STORE, "SIDECAR_SIDECAR_ALLOWED_HOSTS": "till-3.local:8787"})

    assert config.sidecar.allowed_hosts == ["till-3.local", "::1"]
    assert "$.sidecar.allowed_hosts[0]" in str(caught.value)


async def test_config_empty_store_names_are_not_sent(
    make_sidecar: MakeSidecar, make_config: MakeConfig, simulator: SimulatorServer
) -> None:
    """Defect 14: names are optional; an empty one is left out of `merchant`, not sent as ""."""
    sidecar = await make_sidecar(
        make_config(SIDECAR_STORE_MERCHANT_NAME="", SIDECAR_STORE_BRANCH_NAME=" ")
    )

    response = await sidecar.post(
        "/v1/finalize-payment", json={"customerId": "c-n", "paymentId": "p-n", "totalPaid": 4}
    )

    assert response.status == 200, await response.text()
    sent = [r["json"] for r in simulator.sim.requests if r["path"].endswith("/payments")]
    assert sent[-1]["merchant"] == {"uniqueId": "merchant-42", "branch": {"uniqueId": "branch-7"}}


async def test_non_loopback_bind_needs_a_token() -> None:
    config = load_config(None, {**STORE_ENV, "SIDECAR_HOST": "0.0.0.0"})

    with pytest.raises(ConfigError) as caught:
        load_secrets(config, {})
    allowed = load_secrets(config, {"SIDECAR_ACCESS_TOKEN": "t" * 24})

    assert "$.sidecar.host" in str(caught.value) and "access token" in str(caught.value)
    assert allowed.access_token == "t" * 24


def test_encryption_key_must_be_32_bytes() -> None:
    config = load_config(None, STORE_ENV)

    with pytest.raises(ConfigError) as caught:
        load_secrets(config, {"SIDECAR_ENCRYPTION_KEY": "c2hvcnQ="})

    assert "32 random bytes" in str(caught.value)
    assert os.environ.get("SIDECAR_ENCRYPTION_KEY") is None


def test_config_fleet_pacing_from_the_environment_names_the_fleet_scripts_use() -> None:
    config = load_config(
        None,
        {
            **STORE,
            "SIDECAR_PACING_SHARED_URL": "redis://:hunter2-pw@10.0.0.9:6379/0",
            "SIDECAR_PACING_LOCAL_SHARE": "0.25",
            "SIDECAR_PACING_AIMD": "false",
            "SIDECAR_PACING_RECONNECT_JITTER_SECONDS": "0",
        },
    )

    pacing = config.pacing
    assert pacing.shared_url == "redis://:hunter2-pw@10.0.0.9:6379/0"  # the environment may
    assert (pacing.local_share, pacing.aimd, pacing.reconnect_jitter_seconds) == (0.25, False, 0)
    assert load_config(None, STORE).pacing.aimd is True  # AIMD unless told otherwise


@pytest.mark.parametrize(
    ("url", "shown", "passwords"),
    [
        ("redis://10.0.0.9:6379/0", "redis://10.0.0.9:6379/0", []),
        ("redis://:s3cret-pw@10.0.0.9:6379/0", "redis://:***@10.0.0.9:6379/0", ["s3cret-pw"]),
        ("rediss://fleet:p%40ss@[::1]:6380", "rediss://fleet:***@[::1]:6380", ["p@ss"]),
        ("redis://h/0?db=1&password=q-pw", "redis://h/0?db=1&password=***", ["q-pw"]),
        ("unix://:u-pw@/run/redis.sock", "unix://:***@/run/redis.sock", ["u-pw"]),
    ],
)
def test_config_redis_url_is_shown_without_its_password(
    url: str, shown: str, passwords: list[str]
) -> None:
    assert redacted_url(url) == shown
    assert url_passwords(url) == passwords

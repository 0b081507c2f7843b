"""`wsready token`: claims, signing, the secret the inventory holds, and what gets printed."""

from __future__ import annotations

import textwrap

import jwt
import pytest

from wsready import cli
from wsready.fleet import tokens
from wsready.hostdata import HostConfig
from wsready.validate import ConfigError

SECRET = "unit-test-secret-0123456789abcdef-0123"
OTHER_SECRET = "another-secret-0123456789abcdef-98765"


def decode(token: str, secret: str = SECRET, **kwargs) -> dict:
    return jwt.decode(token, secret, algorithms=["HS256"], **kwargs)


def write_inventory(tmp_path, hosts: str, all_data: str | None = None):
    inventory = tmp_path / "fleet.py"
    inventory.write_text(textwrap.dedent(hosts))
    if all_data is not None:
        (tmp_path / "group_data").mkdir()
        (tmp_path / "group_data" / "all.py").write_text(textwrap.dedent(all_data))
    return inventory


def run_cli(argv: list[str]) -> int:
    return cli.main(argv)


def test_claims_are_sub_iat_nbf_exp():
    assert tokens.claims(600, now=1_000_000.7) == {
        "sub": "wsready",
        "iat": 1_000_000,
        "nbf": 1_000_000,
        "exp": 1_000_600,
    }


def test_claims_carry_the_audience_only_when_given():
    assert tokens.claims(60, audience="api", now=0)["aud"] == "api"
    assert "aud" not in tokens.claims(60, now=0)


def test_minted_token_verifies_with_the_secret_and_audience():
    token = tokens.mint(SECRET, ttl_s=120, subject="ops", audience="api")
    body = decode(token, audience="api")
    assert body["sub"] == "ops"
    assert body["exp"] - body["iat"] == 120
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_token_signed_with_another_secret_is_refused():
    with pytest.raises(jwt.InvalidSignatureError):
        decode(tokens.mint(OTHER_SECRET))


def test_token_minted_in_the_past_is_expired():
    with pytest.raises(jwt.ExpiredSignatureError):
        decode(tokens.mint(SECRET, ttl_s=60, now=1_000_000))


@pytest.mark.parametrize("ttl", [0, -5, True, "60"])
def test_bad_ttl_is_refused_naming_the_option(ttl):
    with pytest.raises(ConfigError) as error:
        tokens.mint(SECRET, ttl_s=ttl)
    assert error.value.key == "--ttl"


def test_empty_secret_is_refused_without_echoing_it():
    with pytest.raises(ConfigError) as error:
        tokens.mint("")
    assert error.value.key == "app_jwt_secret"


def configs(hosts: dict[str, dict]) -> dict[str, HostConfig]:
    return {name: HostConfig.from_data(name, data) for name, data in hosts.items()}


def test_secret_comes_from_group_data_next_to_the_inventory(tmp_path):
    inventory = write_inventory(
        tmp_path,
        """
        hosts = [("web1", {"ssh_hostname": "10.0.0.1", "app_auth": "jwt"}), "web2"]
        """,
        f"""
        app_jwt_secret = "{SECRET}"
        app_jwt_audience = "api"
        """,
    )
    hosts = tokens.load_hosts(inventory)
    assert list(hosts) == ["web1", "web2"]
    settings = tokens.fleet_settings(hosts)
    assert (settings.secret, settings.audience) == (SECRET, "api")
    assert SECRET not in repr(settings)


def test_host_data_overrides_group_data(tmp_path):
    inventory = write_inventory(
        tmp_path,
        f"""
        hosts = [("web1", {{"app_jwt_secret": "{OTHER_SECRET}"}}), "web2"]
        """,
        f'app_jwt_secret = "{SECRET}"\n',
    )
    hosts = tokens.load_hosts(inventory)
    assert tokens.fleet_settings(hosts, host="web1").secret == OTHER_SECRET
    assert tokens.fleet_settings(hosts, host="web2").secret == SECRET


def test_differing_secrets_need_a_host_and_the_error_hides_them():
    hosts = {"web1": {"app_jwt_secret": SECRET}, "web2": {"app_jwt_secret": OTHER_SECRET}}
    with pytest.raises(ConfigError) as error:
        tokens.fleet_settings(configs(hosts))
    assert "--host" in str(error.value)
    assert SECRET not in str(error.value) and OTHER_SECRET not in str(error.value)


def test_missing_secret_names_the_key_and_host():
    with pytest.raises(ConfigError) as error:
        tokens.fleet_settings(configs({"web1": {"app_auth": "jwt"}}))
    assert error.value.key == "app_jwt_secret"
    assert "web1" in str(error.value)


def test_static_auth_has_nothing_to_mint():
    with pytest.raises(ConfigError) as error:
        static = {"app_auth": "static", "app_jwt_secret": SECRET}
        tokens.fleet_settings(configs({"web1": {**static, "app_static_token_hashes": ["a" * 64]}}))
    assert error.value.key == "app_auth"


def test_unknown_host_lists_the_known_ones():
    with pytest.raises(ConfigError, match="web1"):
        tokens.fleet_settings(configs({"web1": {"app_jwt_secret": SECRET}}), host="web9")


def test_missing_inventory_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as error:
        tokens.load_hosts(tmp_path / "absent.py")
    assert error.value.key == "--inventory"


def test_cli_prints_only_the_token(tmp_path, capsys):
    inventory = write_inventory(
        tmp_path, f'hosts = [("web1", {{"app_auth": "jwt", "app_jwt_secret": "{SECRET}"}})]\n'
    )
    status = run_cli(["token", "--inventory", str(inventory), "--ttl", "90", "--audience", "a"])
    out, err = capsys.readouterr()
    assert status == 0
    assert out.count("\n") == 1
    body = decode(out.strip(), audience="a")
    assert body["exp"] - body["iat"] == 90
    assert SECRET not in out + err
    assert err == ""


def test_cli_error_exits_unknown_and_hides_the_secret(tmp_path, capsys):
    inventory = write_inventory(
        tmp_path,
        f"""
        hosts = [
            ("web1", {{"app_auth": "jwt", "app_jwt_secret": "{SECRET}"}}),
            ("web2", {{"app_auth": "jwt", "app_jwt_secret": "{OTHER_SECRET}"}}),
        ]
        """,
    )
    status = run_cli(["token", "--inventory", str(inventory)])
    out, err = capsys.readouterr()
    assert status == 3
    assert out == ""
    assert "app_jwt_secret" in err
    assert SECRET not in err and OTHER_SECRET not in err


def test_cli_notes_on_stderr_when_the_app_does_not_check_tokens(tmp_path, capsys):
    inventory = write_inventory(tmp_path, f'hosts = [("web1", {{"app_jwt_secret": "{SECRET}"}})]\n')
    assert run_cli(["token", "--inventory", str(inventory)]) == 0
    out, err = capsys.readouterr()
    decode(out.strip())
    assert "app_auth is 'off'" in err
    assert SECRET not in err


def test_cli_refuses_a_secret_the_deploy_refuses_without_echoing_it(tmp_path, capsys):
    inventory = write_inventory(tmp_path, 'hosts = [("web1", {"app_jwt_secret": "short"})]\n')
    assert run_cli(["token", "--inventory", str(inventory)]) == 3
    out, err = capsys.readouterr()
    assert out == ""
    assert "app_jwt_secret = '<hidden>': must be a secret of 32" in err
    assert "short" not in err.replace("shorter", "")


def test_issuer_from_host_data_lands_in_the_token_and_the_app_environment() -> None:
    from wsready import hostdata
    from wsready.deploy import app_env

    data = {"app_auth": "jwt", "app_jwt_secret": "s" * 40, "app_jwt_issuer": "wsready-ops"}
    settings = tokens.jwt_settings(HostConfig.from_data("web1", data))
    assert settings.issuer == "wsready-ops"
    token = tokens.mint(settings.secret, 60, issuer=settings.issuer)
    claims = jwt.decode(token, "s" * 40, algorithms=["HS256"], issuer="wsready-ops")
    assert claims["iss"] == "wsready-ops" and "exp" in claims
    env = app_env.app_environment(HostConfig.from_data("wsr-1", data), "rel")
    assert env["JWT_ISSUER"] == "wsready-ops"
    assert app_env.app_environment(HostConfig.from_data("wsr-1", {}), "rel")["JWT_ISSUER"] == ""
    refused = hostdata.validate({"app_jwt_issuer": "a\nb"})
    assert [error.key for error in refused] == ["app_jwt_issuer"]

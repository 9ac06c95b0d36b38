"""Run `manage.py check --deploy --fail-level WARNING` with the documented production environment.

deploy/billpay.env.example names its secrets as *_FILE paths; this makes a throw-away random secret for each
in a temporary folder, points the *_FILE variables there, and runs the check in a fresh process whose
environment is that file and nothing else (plus PATH/HOME). `make test` runs it, and so does
tests/test_settings_production.py.

    python scripts/check_deploy_env.py [manage.py check options...]
"""

import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV_FILE = ROOT / "deploy" / "billpay.env.example"


def read_env_file(path: Path = ENV_FILE) -> dict[str, str]:
    """KEY=value lines; blank lines and # comments skipped (the subset systemd and a shell both read)."""
    values = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.isidentifier():
            raise ValueError(f"{path}:{number}: not KEY=value: {line!r}")
        values[key] = value
    return values


def throw_away_secret(name: str, documented_path: str) -> str:
    """A random value of the kind the file holds: a token, or an RSA key for a .pem (the private one in
    PKCS#8, as `openssl genrsa` and Alipay's key tool write it; a public one as Alipay publishes it)."""
    if not documented_path.endswith(".pem"):
        return secrets.token_urlsafe(50) + "\n"
    from Crypto.PublicKey import RSA

    key = RSA.generate(1024)  # throw-away: the size only needs to load
    if "PRIVATE" in name:
        return key.export_key(format="PEM", pkcs=8).decode() + "\n"
    return key.public_key().export_key(format="PEM").decode() + "\n"


def production_environment(secret_dir: Path, path: Path = ENV_FILE) -> dict[str, str]:
    """The example's variables, each *_FILE pointing at a fresh random secret in `secret_dir`."""
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    env.update(read_env_file(path))
    for key in list(env):
        if key.endswith("_FILE"):
            secret = secret_dir / key.removesuffix("_FILE").lower()
            secret.write_text(throw_away_secret(key, env[key]), encoding="utf-8")
            secret.chmod(0o600)
            env[key] = str(secret)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_manage(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="billpay-secrets-") as tmp:
        env = production_environment(Path(tmp))
        result = run_manage(["check", "--deploy", "--fail-level", "WARNING", *argv], env)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

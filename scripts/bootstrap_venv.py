"""Create the project's virtual environment, explaining what is missing on a fresh machine.

Run with the system Python before anything is installed, so it uses the standard library only.
"""

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

if sys.version_info < (3, 11):  # noqa: UP036 - runs under the system Python, before the venv exists
    sys.exit(
        f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}. Set PYTHON=python3.11 (or newer)."
    )

target = Path(sys.argv[1] if len(sys.argv) > 1 else ".venv")
if (target / "bin" / "python").exists():
    sys.exit(0)


def _create() -> bool:
    try:
        venv.EnvBuilder(with_pip=True, clear=True).create(target)
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"Creating {target} failed: {exc}", file=sys.stderr)
        return False
    return (target / "bin" / "pip").exists()


if _create():
    sys.exit(0)

# Debian and Ubuntu ship venv's pip bootstrap in a separate package.
package = f"python{sys.version_info.major}.{sys.version_info.minor}-venv"
if shutil.which("apt-get") and os.geteuid() == 0:
    print(f"Installing {package} (and python3-venv) with apt-get …")
    subprocess.run(["apt-get", "update", "-qq"], check=False)
    installed = subprocess.run(["apt-get", "install", "-y", "-qq", package], check=False).returncode == 0
    if not installed:
        subprocess.run(["apt-get", "install", "-y", "-qq", "python3-venv"], check=False)
    if _create():
        sys.exit(0)
sys.exit(
    f"Could not create a virtual environment in {target}. On Debian/Ubuntu run:\n"
    f"    sudo apt-get install {package}\nthen run make again."
)

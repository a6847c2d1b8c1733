"""Virtual environments for third-party serving stacks, outside the project's locks.

KServe and MLServer pull in dependency trees (FastAPI, grpcio, pandas, their own pins of
numpy and protobuf) that must not constrain the project's own, so each lives in its own
venv under .nightshift/peers/, created on first use with uv from PyPI and reused after.
The reference-client tests (kserve's InferenceRESTClient) and bench/serve.py share them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from devstack.procs import ROOT, MissingComponentError

PEERS = ROOT / ".nightshift" / "peers"

# What each venv holds: a peer server (or client) and onnxruntime to run the same model.
PACKAGES = {
    "fastapi": ["fastapi", "uvicorn[standard]", "onnxruntime", "numpy"],
    "kserve": ["kserve", "onnxruntime", "numpy"],
    # MLServer 1.7 calls asyncio.get_event_loop() in its workers, which uvloop 0.22 refuses.
    "mlserver": ["mlserver", "uvloop<0.22", "onnxruntime", "numpy"],
}


def peer_python(name: str) -> Path:
    """The interpreter of the peer venv `name`, created and filled if it is not there yet."""
    folder = PEERS / name
    python = folder / "bin" / "python"
    done = folder / ".installed"
    packages = PACKAGES[name]
    if done.is_file() and done.read_text() == " ".join(packages) and python.exists():
        return python
    uv = Path(sys.executable).parent / "uv"
    if not uv.exists():
        raise MissingComponentError(f"uv is missing ({uv}); run scripts/bootstrap")
    try:
        subprocess.run(
            [str(uv), "venv", "-q", "--allow-existing", "--python", sys.executable, str(folder)],
            check=True, timeout=300, capture_output=True,
        )  # fmt: skip
        subprocess.run(
            [str(uv), "pip", "install", "-q", "--python", str(python), *packages],
            check=True, timeout=540, capture_output=True,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise MissingComponentError(
            f"installing {' '.join(packages)} into {folder} from PyPI took over 9 minutes"
        ) from None
    except subprocess.CalledProcessError as err:
        raise MissingComponentError(
            f"could not install {' '.join(packages)} into {folder} from PyPI:"
            f" {err.stderr.decode(errors='replace').strip()[-400:]}"
        ) from None
    done.write_text(" ".join(packages))
    return python

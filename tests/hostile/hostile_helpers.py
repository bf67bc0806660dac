"""Shared code of the hostile-input tests: build attack files at test time, run the CLI or
the image loader in a child Python under an address-space limit, and look at what it left.

Bombs are generated here, never committed; none of them is ever inflated.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# TensorFlow cannot even be imported under this limit; numpy and OpenCV can. A refusal
# printed under it happened before TensorFlow or Keras saw the file.
NO_TENSORFLOW_MB = 1024


def run_limited(code: str, limit_mb: int, *args: str, timeout: float = 120, tmpdir: Path | None = None):
    """Run Python `code` in a child under RLIMIT_AS of `limit_mb` MiB.

    The child's `sys.argv[1:]` is `args`. After the code ends (or raises SystemExit) the
    child prints its peak resident memory in MiB and whether TensorFlow was imported,
    as the last line of stdout: `PEAK <MiB> TF <0|1>`.

    Returns:
        (CompletedProcess, peak MiB, tensorflow imported)
    """
    wrapper = textwrap.dedent(
        f"""
        import resource, sys
        limit = {limit_mb} * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        def _report():
            # VmHWM, not ru_maxrss: the latter keeps the parent's peak across fork and exec.
            with open("/proc/self/status") as status:
                hwm = [line.split()[1] for line in status if line.startswith("VmHWM:")]
            peak = int(hwm[0]) // 1024
            sys.stdout.flush()
            print(f"PEAK {{peak}} TF {{int('tensorflow' in sys.modules)}}", flush=True)
        try:
        """
    ) + textwrap.indent(textwrap.dedent(code), "    ") + textwrap.dedent(
        """
        except SystemExit as exc:
            _report()
            raise
        _report()
        """
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *args], cwd=REPO_ROOT, env=env,
        capture_output=True, text=True, timeout=timeout,
    )
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if not last.startswith("PEAK "):
        return done, None, None
    _, peak, _, tf = last.split()
    done.stdout = done.stdout[: done.stdout.rstrip().rfind("PEAK ")]
    return done, int(peak), tf == "1"


def cli_limited(*args: str, limit_mb: int = NO_TENSORFLOW_MB, timeout: float = 120, tmpdir: Path | None = None):
    """Run `siamese-gui ARGS` in a child under RLIMIT_AS; see `run_limited`."""
    code = "from siamese_gui.cli.commands import main\nsys.exit(main(sys.argv[1:]))\n"
    return run_limited(code, limit_mb, *args, timeout=timeout, tmpdir=tmpdir)


def one_error_line(done, *words, code=1) -> str:
    """Assert a finished CLI run printed exactly one error line holding `words`."""
    assert done.returncode == code, (done.returncode, done.stderr[-2000:])
    lines = done.stderr.strip("\n").splitlines()
    assert len(lines) == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    line = lines[0]
    if code == 1 and not line.startswith("{"):
        assert line.startswith("siamese-gui: error: "), line
    for word in words:
        assert word in line, line
    return line


# --- model archives ----------------------------------------------------------------------


def members_of(path: Path) -> dict:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_zip(path: Path, members, compression=zipfile.ZIP_STORED) -> Path:
    """Write (name, bytes) pairs (a dict or a list, names may repeat) as a zip archive."""
    items = members.items() if isinstance(members, dict) else members
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in items:
            archive.writestr(zipfile.ZipInfo(name), content, compress_type=compression)
    return path


def declare_size(path: Path, member: str, size: int) -> Path:
    """Make the archive claim `size` uncompressed bytes for `member` (< 4 GiB), in its
    local header and central directory, without changing the stored data."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo(member)
    struct.pack_into("<I", data, info.header_offset + 22, size)
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:
        name_length = struct.unpack_from("<H", data, pos + 28)[0]
        if bytes(data[pos + 46 : pos + 46 + name_length]) == member.encode():
            struct.pack_into("<I", data, pos + 24, size)
        pos = data.find(b"PK\x01\x02", pos + 4)
    path.write_bytes(bytes(data))
    return path


def metadata_json(members: dict, **fields) -> bytes:
    """Embedded metadata text that matches `members`' hashes, with `fields` set."""
    import hashlib

    info = json.loads(members["siamese_gui.json"])
    info["config_sha256"] = hashlib.sha256(members["config.json"]).hexdigest()
    info["weights_sha256"] = hashlib.sha256(members["model.weights.h5"]).hexdigest()
    info.update(fields)
    return json.dumps(info).encode()


def folder_listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))

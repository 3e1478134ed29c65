"""Peak memory of onboarding a VNF package that carries a large VM image (library path only).

    .venv/bin/python tests/bench/bench_onboard_memory.py [--image-mib 200] [--baseline REV]

Writes a CSAR with an incompressible image of --image-mib MiB to a temporary file, then, each in
a fresh process, runs what the NFVO runs to onboard it: `load_vnf_package` and the
`software_images` / `additional_artifacts` helpers (sizes, SHA-256 of the image and artifacts).
It measures the tracemalloc peak of that step and the process's max RSS:

* before: the code of the baseline revision (the commit before the streaming change, taken with
  `git archive`), loading from bytes as the NFVO then did. The upload's own bytes were held as
  well (read_upload), so they are added to its total;
* after, from bytes: today's library given bytes (lazy members: only the input is held);
* after, from a file: today's library given the spooled upload, as the NFVO now does.

No MongoDB, no HTTP: the figures are the package library's, not the whole service's.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MiB = 2**20

CHILD = r"""
import json, resource, sys, tracemalloc
from pathlib import Path
import magi.descriptors as d
from magi.descriptors import load_vnf_package
from nfvo.pkginfo import additional_artifacts, software_images
mode, path = sys.argv[1], sys.argv[2]
held = 0
if mode == "bytes":
    src = Path(path).read_bytes()  # the upload as the NFVO held it before the change
    held = len(src)
else:
    src = Path(path)
tracemalloc.start()
pkg = load_vnf_package(src)
images = software_images(pkg, "2026-01-01T00:00:00Z")
artifacts = additional_artifacts(pkg, {i["imagePath"] for i in images if "imagePath" in i})
peak = tracemalloc.get_traced_memory()[1]
assert images and images[0]["size"] > 0
print(json.dumps({"peak": peak, "held": held, "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "library": d.__file__, "image_sha256": images[0]["checksum"]["hash"]}))
"""


def baseline_revision() -> str | None:
    """The parent of the commit that made package reading stream."""
    out = subprocess.run(["git", "-C", str(REPO), "log", "--format=%H", "-1", "--fixed-strings",
                          "--grep", "Descriptor library reads packages from a path"],
                         capture_output=True, text=True)
    return f"{out.stdout.strip()}^" if out.returncode == 0 and out.stdout.strip() else None


def export(rev: str, into: Path) -> bool:
    """The baseline's libs/ and services/ (a tar from git archive, unpacked into our temp dir)."""
    archive = into / "baseline.tar"
    with open(archive, "wb") as fh:
        if subprocess.run(["git", "-C", str(REPO), "archive", rev, "libs", "services"], stdout=fh).returncode:
            return False
    with tarfile.open(archive) as tf:
        tf.extractall(into / "baseline", filter="data")
    return True


def measure(mode: str, package: Path, pythonpath: list[Path]) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in pythonpath)}
    out = subprocess.run([sys.executable, "-c", CHILD, mode, str(package)], env=env, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image-mib", type=int, default=200)
    ap.add_argument("--baseline", help="git revision of the 'before' code (default: found in the log)")
    args = ap.parse_args()
    sys.path[:0] = [str(REPO)]
    from tests.unit.pkgfactory import write_vnf_csar_with_image

    with tempfile.TemporaryDirectory(prefix="magi-bench-") as tmp:
        tmpdir = Path(tmp)
        package = tmpdir / "big-image.zip"
        image_sha, _ = write_vnf_csar_with_image(package, args.image_mib * MiB)
        print(f"package: {package.stat().st_size / MiB:.1f} MiB on disk, image {args.image_mib} MiB (random bytes)")
        current = [REPO / "libs", REPO / "services"]
        rows: list[tuple[str, dict]] = []
        rev = args.baseline or baseline_revision()
        if rev and export(rev, tmpdir):
            old = [tmpdir / "baseline" / "libs", tmpdir / "baseline" / "services"]
            rows.append((f"before ({rev[:12]}), from bytes", measure("bytes", package, old)))
        else:
            print("no baseline revision found (not a git checkout?): 'before' skipped")
        rows.append(("after, from bytes", measure("bytes", package, current)))
        rows.append(("after, from a file", measure("file", package, current)))
        print(f"{'':32} {'load peak':>10} {'+ input held':>13} {'= total':>9} {'max RSS':>9}   (MiB)")
        for name, r in rows:
            assert r["image_sha256"] == image_sha, (name, r)
            total = r["peak"] + r["held"]
            print(f"{name:32} {r['peak'] / MiB:10.1f} {r['held'] / MiB:13.1f} {total / MiB:9.1f} "
                  f"{r['maxrss_kib'] / 1024:9.1f}")
            print(f"{'':32} library: {os.path.relpath(r['library'], tmpdir if 'baseline' in r['library'] else REPO)}")
        before, after = rows[0][1], rows[-1][1]
        if len(rows) == 3:
            ratio = (before["peak"] + before["held"]) / max(after["peak"] + after["held"], 1)
            print(f"before/after (load peak + input held): {ratio:.0f}x less memory from a file")


if __name__ == "__main__":
    main()

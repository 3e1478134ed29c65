"""`magi vnfpkg validate`: offline checks of generated packages through the CLI entry point."""
from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest
from magi.cli import main

from tests.unit.pkgfactory import (
    TOP,
    make_osm_vnf_package,
    make_vnf_csar,
    vnf_csar_files,
    zip_files,
)


def _validate(capsys, *args: str) -> tuple[int, str]:
    rc = main(["vnfpkg", "validate", *args])
    return rc, capsys.readouterr().out


def _write(tmp_path: Path, name: str, data: bytes) -> str:
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


def test_validate_csar_ok(tmp_path, capsys):
    rc, out = _validate(capsys, _write(tmp_path, "vnf.zip", make_vnf_csar("vnfd-ok")))
    assert rc == 0, out
    assert "valid VNF package (csar, sol001)" in out
    assert "vnfdId:    vnfd-ok" in out and "provider:  MAGI" in out
    assert "VDU1 (1..3)" in out and "VDU2 (1..1)" in out
    assert "internalVL" in out and "VDU1_CP_EXT" in out and "VDU1_scale (max" in out
    assert "instantiation_level_1 (default)" in out


def test_validate_json(tmp_path, capsys):
    rc, out = _validate(capsys, "--json", _write(tmp_path, "vnf.zip", make_vnf_csar("vnfd-json")))
    assert rc == 0
    doc = json.loads(out)
    assert doc["ok"] is True and doc["format"] == "csar" and doc["vnfdId"] == "vnfd-json"
    (fl,) = doc["flavours"]
    assert fl["flavourId"] == "simple"
    assert {d["vduId"]: (d["min"], d["max"]) for d in fl["vdus"]} == {"VDU1": (1, 3), "VDU2": (1, 1)}
    assert fl["defaultInstantiationLevelId"] == "instantiation_level_1"


def test_validate_json_failure(tmp_path, capsys):
    files = vnf_csar_files("vnfd-x")
    files[TOP] = files[TOP] + b"\n# tampered\n"
    rc, out = _validate(capsys, "--json", _write(tmp_path, "bad.zip", zip_files(files)))
    assert rc == 1
    doc = json.loads(out)
    assert doc["ok"] is False and doc["error"]["check"] == "manifest-hash"
    assert TOP in doc["error"]["detail"]


def test_validate_wrong_hash(tmp_path, capsys):
    files = vnf_csar_files("vnfd-hash")
    files[TOP] = files[TOP] + b"\n# changed after the manifest was written\n"
    rc, out = _validate(capsys, _write(tmp_path, "bad.zip", zip_files(files)))
    assert rc == 1
    assert out.startswith("✗ manifest-hash:") and TOP in out


def test_validate_zip_slip(tmp_path, capsys):
    files = vnf_csar_files("vnfd-slip", with_manifest=False)
    files["../../etc/evil.sh"] = b"#!/bin/sh\n"
    rc, out = _validate(capsys, _write(tmp_path, "slip.zip", zip_files(files)))
    assert rc == 1
    assert out.startswith("✗ zip-slip:") and "evil.sh" in out


def test_validate_malformed_yaml(tmp_path, capsys):
    files = vnf_csar_files("vnfd-yaml", with_manifest=False)
    files[TOP] = b"tosca_definitions_version: [unclosed\n  node: {\n"
    rc, out = _validate(capsys, _write(tmp_path, "yaml.zip", zip_files(files)))
    assert rc == 1
    assert out.startswith("✗ yaml:") and TOP in out


def test_validate_not_a_package(tmp_path, capsys):
    rc, out = _validate(capsys, _write(tmp_path, "notes.yaml", b"hello: world\n"))
    assert rc == 1 and out.startswith("✗ vnfd:")
    rc, out = _validate(capsys, str(tmp_path / "missing.zip"))
    assert rc == 1 and out.startswith("✗ io:")


def test_validate_csar_directory(tmp_path, capsys):
    root = tmp_path / "my_vnf"
    for name, data in vnf_csar_files("vnfd-dir").items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    rc, out = _validate(capsys, str(root))
    assert rc == 0, out
    assert "(csar, sol001)" in out and "vnfd-dir" in out
    # a broken file in the directory is named too
    (root / TOP).write_bytes((root / TOP).read_bytes() + b"# x\n")
    rc, out = _validate(capsys, str(root))
    assert rc == 1 and out.startswith("✗ manifest-hash:") and TOP in out


def test_validate_osm_tar_and_directory(tmp_path, capsys):
    data = make_osm_vnf_package("osm_cli-vnf")
    rc, out = _validate(capsys, _write(tmp_path, "osm.tar.gz", data))
    assert rc == 0 and "(osm-tar, sol006)" in out and "osm_cli-vnf" in out and "vnf-cp0-ext" in out
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        tf.extractall(tmp_path / "x", filter="data")
    rc, out = _validate(capsys, str(tmp_path / "x" / "osm_cli-vnf"))
    assert rc == 0, out
    assert "(osm-tar, sol006)" in out and "vm (1..2)" in out


def test_validate_bare_yaml(tmp_path, capsys):
    with tarfile.open(fileobj=io.BytesIO(make_osm_vnf_package("bare-vnf"))) as tf:
        vnfd = tf.extractfile("bare-vnf/bare-vnf_vnfd.yaml").read()
    rc, out = _validate(capsys, _write(tmp_path, "bare-vnf.yaml", vnfd))
    assert rc == 0 and "(yaml, sol006)" in out and "bare-vnf" in out


def test_directory_zip_has_tosca_meta_first(tmp_path):
    from magi.cli_packages import read_upload

    root = tmp_path / "pkg"
    for name, data in vnf_csar_files("vnfd-order").items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    up = read_upload(str(root))
    assert up.content_type == "application/zip"
    with zipfile.ZipFile(io.BytesIO(up.data)) as zf:
        assert zf.namelist()[0] == "TOSCA-Metadata/TOSCA.meta"


@pytest.mark.parametrize("argv", [["vnfpkg"], ["nsd"], ["vnfpkg", "validate"]])
def test_usage_errors(argv):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2

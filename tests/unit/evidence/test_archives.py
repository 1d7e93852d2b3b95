"""Bundles inside archives: read in place, never extracted, hostile archives refused as a whole."""

import io
import os
import stat
import tarfile
import zipfile

import pytest

from agp.errors import UsageError
from agp.evidence import build_bundle, check_bundle
from agp.evidence.source import ArchiveError, ArchiveLimits, DirectorySource, open_bundle
from agp.journal import Keyring
from tests.unit.evidence._runs import make_run


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("archives")
    run, key = make_run(tmp)
    build_bundle(run, tmp / "bundle", key)
    return tmp / "bundle", Keyring.from_public_key(key.public)


def zip_of(bundle, dest, prefix="", extra=()):
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(bundle.rglob("*")):
            if p.is_file():
                z.write(p, prefix + p.relative_to(bundle).as_posix())
        for info, data in extra:
            z.writestr(info, data)
    return dest


def tar_of(bundle, dest, extra=()):
    with tarfile.open(dest, "w:gz") as tf:
        tf.add(bundle, arcname="bundle")
        for info, data in extra:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return dest


def refused(path, code, limits=None):
    with pytest.raises(ArchiveError) as ei:
        open_bundle(path, limits).close()
    assert ei.value.code == code, ei.value
    return ei.value


# --------------------------------------------------------------------- good archives
@pytest.mark.parametrize("prefix", ["", "bundle/", "artifact/evidence/"])
def test_zip_bundle_verifies_at_the_top_or_under_a_directory(good, tmp_path, prefix):
    b, ring = good
    z = zip_of(b, tmp_path / "a.zip", prefix)
    rep = check_bundle(z, ring)
    assert rep.ok, rep.errors
    assert rep.gated == 3 and rep.journal_ok and rep.bundle_dir.endswith(f"a.zip!/{prefix.rstrip('/')}" if prefix else "a.zip")
    assert os.listdir(tmp_path) == ["a.zip"]  # nothing was extracted


def test_tar_gz_bundle_verifies(good, tmp_path):
    b, ring = good
    rep = check_bundle(tar_of(b, tmp_path / "b.tar.gz"), ring)
    assert rep.ok, rep.errors
    assert os.listdir(tmp_path) == ["b.tar.gz"]


def test_tampered_zip_member_fails_like_a_directory_would(good, tmp_path):
    b, ring = good
    z = tmp_path / "t.zip"
    with zipfile.ZipFile(z, "w") as out:
        for p in sorted(b.rglob("*")):
            if p.is_file():
                data = p.read_bytes()
                if p.name == "journal.jsonl":
                    data = data.replace(b'"i"', b'"j"', 1).replace(b"c0ffee", b"c0ffef")
                out.writestr(p.relative_to(b).as_posix(), data)
    rep = check_bundle(z, ring)
    assert not rep.ok and rep.errors[0].code == "entry_hash_mismatch" and rep.errors[0].where.startswith("journal.jsonl:")


def test_members_outside_the_bundle_are_named(good, tmp_path):
    b, ring = good
    z = zip_of(b, tmp_path / "a.zip", "bundle/", extra=[("README.txt", "hello")])
    rep = check_bundle(z, ring)
    assert rep.ok and any("outside the bundle" in w and "README.txt" in w for w in rep.warnings)


def test_two_bundles_in_one_archive_are_refused(good, tmp_path):
    b, _ = good
    z = tmp_path / "two.zip"
    with zipfile.ZipFile(z, "w") as out:
        for prefix in ("a/", "b/"):
            for p in sorted(b.rglob("*")):
                if p.is_file():
                    out.write(p, prefix + p.relative_to(b).as_posix())
    with pytest.raises(UsageError, match="holds 2 bundles"):
        open_bundle(z)


# ------------------------------------------------------------------- hostile zips
def _zinfo(name, mode):
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = mode << 16
    return info


def test_zip_symlink_entry_is_refused(good, tmp_path):
    b, ring = good
    z = zip_of(b, tmp_path / "l.zip", extra=[(_zinfo("transcript/x.jsonl", stat.S_IFLNK | 0o777), "/etc/passwd")])
    refused(z, "archive_link")
    rep = check_bundle(z, ring)  # as a report: failed, nothing else checked
    assert not rep.ok and [p.code for p in rep.errors] == ["archive_link"]


@pytest.mark.parametrize("name", ["../evil", "a/../../evil", "/etc/evil", "C:/evil", "a\\..\\evil"])
def test_zip_unsafe_names_are_refused(good, tmp_path, name):
    b, _ = good
    z = zip_of(b, tmp_path / "n.zip", extra=[(name, "x")])
    refused(z, "archive_unsafe_name")


def test_zip_device_and_duplicate_members_are_refused(good, tmp_path):
    b, _ = good
    refused(zip_of(b, tmp_path / "d.zip", extra=[(_zinfo("dev", stat.S_IFCHR | 0o644), "")]), "archive_special_file")
    with pytest.warns(UserWarning):  # zipfile warns about the duplicate it writes
        dup = zip_of(b, tmp_path / "u.zip", extra=[("aar.md", "second copy")])
    refused(dup, "archive_duplicate")


def test_zip_bomb_declared_size_is_a_cap(good, tmp_path):
    """A member whose data inflates past its declared size is read only up to that size and
    then refused; declared sizes past the caps are refused before anything is read."""
    b, ring = good
    z = zip_of(b, tmp_path / "bomb.zip", extra=[("logs/bomb.log", b"\0" * (8 << 20))])
    # rewrite the declared size (central directory and local header) to 1 KiB
    data = bytearray(z.read_bytes())
    with zipfile.ZipFile(z) as zf:
        info = zf.getinfo("logs/bomb.log")
    real = info.file_size.to_bytes(4, "little")
    small = (1024).to_bytes(4, "little")
    n = data.count(real)
    assert n >= 2
    data = data.replace(real, small)
    z.write_bytes(bytes(data))
    src = open_bundle(z)
    with pytest.raises(ArchiveError) as ei:
        src.digest("logs/bomb.log")
    src.close()
    assert ei.value.code in ("archive_bomb", "archive_member_corrupt")
    # the caps: per member, total, count
    big = zip_of(b, tmp_path / "big.zip")
    refused(big, "archive_member_too_large", ArchiveLimits(member_bytes=100))
    refused(big, "archive_too_large", ArchiveLimits(total_bytes=1000))
    refused(big, "archive_too_many_members", ArchiveLimits(members=3))


# ------------------------------------------------------------------- hostile tars
def _tinfo(name, type_=tarfile.REGTYPE, size=0, linkname=""):
    ti = tarfile.TarInfo(name)
    ti.type = type_
    ti.size = size
    ti.linkname = linkname
    return ti


@pytest.mark.parametrize("info,code", [
    (_tinfo("bundle/transcript/x.jsonl", tarfile.SYMTYPE, linkname="/etc/passwd"), "archive_link"),
    (_tinfo("bundle/transcript/y.jsonl", tarfile.LNKTYPE, linkname="/etc/shadow"), "archive_link"),
    (_tinfo("bundle/dev", tarfile.CHRTYPE), "archive_special_file"),
    (_tinfo("bundle/fifo", tarfile.FIFOTYPE), "archive_special_file"),
    (_tinfo("../escape", size=1), "archive_unsafe_name"),
    (_tinfo("/abs/escape", size=1), "archive_unsafe_name"),
])
def test_tar_links_devices_and_unsafe_names_are_refused(good, tmp_path, info, code):
    b, _ = good
    data = b"x" if info.size else None
    refused(tar_of(b, tmp_path / "t.tar.gz", extra=[(info, data)]), code)


def test_tar_caps_and_oversized_headers(good, tmp_path):
    b, _ = good
    t = tar_of(b, tmp_path / "t.tar.gz")
    refused(t, "archive_member_too_large", ArchiveLimits(member_bytes=100))
    refused(t, "archive_too_large", ArchiveLimits(total_bytes=1000))
    refused(t, "archive_too_many_members", ArchiveLimits(members=3))
    # a pax header of 2 MiB is refused before tarfile reads it into memory
    pax = tmp_path / "pax.tar"
    with tarfile.open(pax, "w", format=tarfile.PAX_FORMAT) as tf:
        ti = tarfile.TarInfo("bundle/manifest.json")
        ti.pax_headers = {"comment": "x" * (2 << 20)}
        tf.addfile(ti, io.BytesIO(b""))
    refused(pax, "archive_unreadable")


def test_a_directory_source_never_follows_a_final_symlink(good, tmp_path):
    b, _ = good
    (tmp_path / "secret").write_text("s")
    link = tmp_path / "d"
    link.mkdir()
    os.symlink(tmp_path / "secret", link / "aar.md")
    src = DirectorySource(link)
    assert not src.is_file("aar.md") and src.files() == ({}, ["aar.md"])
    with pytest.raises(FileNotFoundError):
        src.open("aar.md")

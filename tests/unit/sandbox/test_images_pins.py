"""Image references and the apt mirror lookup, without an engine where none is needed."""

from __future__ import annotations

import pytest

from agp.errors import ImagePinError, SandboxError
from agp.sandbox.images import apt_mirror, resolve_image


class _NoEngine:
    """Stands in for the docker client only to prove the refusal happens before any engine call."""

    @property
    def api(self):
        raise AssertionError("resolve_image must refuse before asking the engine")


@pytest.mark.parametrize("ref", ["", "  ", "agp/reference", "agp/reference:latest", "localhost:5000/x",
                                 "localhost:5000/x:latest", "sha256:1234", "busybox"])
def test_unpinned_refused_before_the_engine(ref):
    with pytest.raises(ImagePinError):
        resolve_image(ref, client=_NoEngine())


def test_apt_mirror_from_deb822(tmp_path):
    d = tmp_path / "sources.list.d"
    d.mkdir()
    (tmp_path / "sources.list").write_text("")
    (d / "debian.sources").write_text(
        "Types: deb\n# comment\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\n\nTypes: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n")
    (d / "other.list.disabled").write_text("deb http://wrong.example/debian bookworm main\n")
    assert apt_mirror(root=tmp_path) == "http://mirror.example/debian"


def test_apt_mirror_from_one_line_format(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(
        "# deb http://commented.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/x.gpg] http://line.example/debian/ bookworm main\n")
    assert apt_mirror(root=tmp_path) == "http://line.example/debian"


def test_apt_mirror_missing_is_an_error(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    with pytest.raises(SandboxError, match="no apt source"):
        apt_mirror(root=tmp_path)


def test_apt_mirror_skips_disabled_deb822(tmp_path):
    d = tmp_path / "sources.list.d"
    d.mkdir()
    (d / "a.sources").write_text("Enabled: no\nTypes: deb\nURIs: http://off.example/debian\nSuites: bookworm\n\n"
                                 "Types: deb\nURIs: http://on.example/debian\nSuites: bookworm\n")
    assert apt_mirror(root=tmp_path) == "http://on.example/debian"


def test_apt_simulation_lines_give_name_version_arch_including_upgrades():
    from agp.sandbox.images import _INST_RE

    out = ("NOTE: This is only a simulation!\n"
           "Inst libuv1 (1.44.2-1+deb12u1 Debian:12.15/oldstable, Debian-Security:12/oldstable-security [amd64])\n"
           "Inst libssl3 [3.0.11-1~deb12u2] (3.0.17-1~deb12u2 Debian:12.15/oldstable [amd64])\n"
           "Inst nodejs (18.20.4+dfsg-1~deb12u3 Debian-Security:12/oldstable-security [amd64]) []\n"
           "Inst node-xtend (4.0.2-3 Debian:12.15/oldstable [all])\n"
           "Conf libuv1 (1.44.2-1+deb12u1 Debian:12.15/oldstable [amd64])\n")
    assert _INST_RE.findall(out) == [("libuv1", "1.44.2-1+deb12u1", "amd64"),
                                     ("libssl3", "3.0.17-1~deb12u2", "amd64"),
                                     ("nodejs", "18.20.4+dfsg-1~deb12u3", "amd64"),
                                     ("node-xtend", "4.0.2-3", "all")]

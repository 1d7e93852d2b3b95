"""Sandbox images: pinned references, and the offline build.

Pinning. Every image agp runs is referenced by image id (``sha256:<64 hex>``)
or digest (``name@sha256:…``). A specific version tag (``name:1.2``) is
accepted with a warning, because a tag can move; ``latest`` or no tag at all
is refused with :class:`agp.errors.ImagePinError`. :func:`resolve_image`
always returns the engine's image id, which is what the sandbox creates and
what the run journals.

Building (``agp images build``). There is no registry: the base is a
``debootstrap --variant=minbase bookworm`` root from the Debian mirror apt
already uses (read from /etc/apt/sources.list and sources.list.d), finished by
``images/base/finalize.sh`` (the ``agent`` user, uid 10001; mount points;
caches removed) and loaded with ``docker import``. The intendant images
(``images/<name>/Dockerfile``, each starting ``ARG BASE`` / ``FROM ${BASE}``)
are built from it with ``--network none``; the harness binaries are the native
executables from the npm packages at the versions in ``intendants/pins.json``.
A toolchain image (:data:`TOOLCHAINS`: ``reference-node``, the reference image with node and
npm) is built FROM its intendant's image, also with ``--network none``: the host downloads the
Debian packages it adds (resolved by apt against that image's own dpkg status, from the mirror apt
uses) and the npm CLI's tarball (version and integrity pinned in ``images/<name>/npm.json``) into
the build context. Every image carries ``agp.inputs``, a digest of everything that went into it;
a build whose inputs did not change is skipped. The resolved ids are written to
the pin file (:func:`pin_file`, ``<agp data dir>/images.json``), which
:func:`resolve_intendant_image` reads at run time.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agp.errors import ImagePinError, SandboxError
from intendants import registry

__all__ = (
    "BASE_SUITE",
    "INTENDANTS",
    "TOOLCHAINS",
    "ImageRef",
    "apt_mirror",
    "base_inputs",
    "build_all",
    "build_base",
    "build_intendant",
    "build_toolchain",
    "harness_binaries",
    "harness_versions",
    "load_pins",
    "pin_file",
    "resolve_image",
    "resolve_intendant_image",
    "resolve_toolchain_image",
)

BASE_SUITE = "bookworm"
INTENDANTS = tuple(registry.HARNESSES[n].image for n in registry.NAMES)
#: images built on an intendant's image with a language toolchain added: name -> the intendant image
#: it starts FROM (images/<name>/: Dockerfile, packages.txt of Debian packages, npm.json)
TOOLCHAINS = {"reference-node": "reference"}
ALL_IMAGES = (*INTENDANTS, *TOOLCHAINS)
_ID_RE = re.compile(r"sha256:[0-9a-f]{64}")
_DIGEST_RE = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")

Log = Callable[[str], None]


@dataclass(frozen=True)
class ImageRef:
    """An image as agp runs it: the engine's id, the reference it came from, and any warning."""

    id: str
    ref: str
    warning: str | None = None

    def __str__(self) -> str:
        return f"{self.ref} -> {self.id}" if self.ref != self.id else self.id


def _client() -> Any:
    from agp.sandbox.engine import docker_client

    return docker_client()


def resolve_image(ref: str, *, client: Any | None = None) -> ImageRef:
    """Resolve ``ref`` to an image id, refusing unpinned references (see the module docstring)."""
    from docker.errors import DockerException, ImageNotFound

    ref = (ref or "").strip()
    warning = None
    if not ref:
        raise ImagePinError("no image given")
    if _ID_RE.fullmatch(ref) or _DIGEST_RE.match(ref):
        pass
    elif ref.startswith("sha256:"):
        raise ImagePinError(f"image {ref!r}: an image id must be the full sha256:<64 hex>")
    else:
        _name, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "")
        if not tag:
            raise ImagePinError(
                f"image {ref!r} has no tag or digest; pin it by image id or digest (see `agp images list`)"
            )
        if tag == "latest":
            raise ImagePinError(f"image {ref!r} uses the moving tag 'latest'; pin it by image id or digest")
        warning = f"image {ref!r} is pinned only by a tag, which can move; prefer its image id"
    client = client or _client()
    try:
        image_id = client.api.inspect_image(ref)["Id"]
    except ImageNotFound as exc:
        raise ImagePinError(f"image {ref!r} is not present in the local engine (run `agp images build`)") from exc
    except DockerException as exc:
        raise SandboxError(f"cannot inspect image {ref!r}: {exc}") from exc
    if _ID_RE.fullmatch(ref) and image_id != ref:
        raise ImagePinError(f"image {ref!r} resolved to a different id {image_id}")
    if warning:
        warning += f" (resolved to {image_id})"
    return ImageRef(image_id, ref, warning)


# --------------------------------------------------------------------------- pins


def pin_file() -> Path:
    """Where the built image ids are recorded: ``$AGP_IMAGES_FILE`` or ``<agp data dir>/images.json``."""
    from agp.paths import data_dir

    return Path(os.environ.get("AGP_IMAGES_FILE") or data_dir() / "images.json")


def load_pins() -> dict[str, dict[str, Any]]:
    path = pin_file()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ImagePinError(f"image pin file {path} is unreadable: {exc}") from exc
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, dict):
        raise ImagePinError(f"image pin file {path} has no 'images' object")
    return images


def _save_pins(images: dict[str, dict[str, Any]]) -> None:
    path = pin_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"version": 1, "images": images}, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def resolve_intendant_image(name: str, *, client: Any | None = None) -> ImageRef:
    """The pinned image id of an intendant (``reference``, ``claude-code``, ``codex``) or of ``base``."""
    pins = load_pins()
    pin = pins.get(name)
    if not pin or not _ID_RE.fullmatch(str(pin.get("id", ""))):
        build = "agp images build" + (f" {name}" if name in TOOLCHAINS else "")
        raise ImagePinError(f"no pinned image for {name!r} in {pin_file()} (run `{build}`)")
    ref = resolve_image(pin["id"], client=client)
    labels = ((client or _client()).api.inspect_image(ref.id).get("Config") or {}).get("Labels") or {}
    if labels.get("agp.inputs") != pin.get("inputs"):
        raise ImagePinError(f"image {ref.id} for {name!r} does not carry the pinned inputs digest")
    return ImageRef(ref.id, f"agp/{name}", None)


def resolve_toolchain_image(name: str, intendant_image: str, *, client: Any | None = None) -> ImageRef:
    """The pinned toolchain image ``name``, refused unless it is one built on ``intendant_image``."""
    if TOOLCHAINS.get(name) != intendant_image:
        raise ImagePinError(f"image {name!r} is not built on the {intendant_image!r} image")
    client = client or _client()
    ref = resolve_intendant_image(name, client=client)
    labels = (client.api.inspect_image(ref.id).get("Config") or {}).get("Labels") or {}
    if labels.get("agp.toolchain") != name or labels.get("agp.intendant") != intendant_image:
        raise ImagePinError(f"image {ref.id} pinned for {name!r} is not labelled as {name} on {intendant_image}")
    return ref


def harness_versions(*, client: Any | None = None) -> dict[str, str | None]:
    """Harness version baked into each pinned harness image (from its ``agp.harness.version`` label)."""
    out: dict[str, str | None] = {}
    client = client or _client()
    for name in registry.REAL:
        try:
            ref = resolve_intendant_image(name, client=client)
        except ImagePinError:
            out[name] = None
            continue
        labels = (client.api.inspect_image(ref.id).get("Config") or {}).get("Labels") or {}
        out[name] = labels.get("agp.harness.version")
    return out


# --------------------------------------------------------------------------- inputs


def _repo() -> Path:
    """The directory holding ``images/`` (the recipes): the source tree, or the installed package's
    ``agp/_shipped``; paths below it are hashed into the image inputs the same way in both."""
    from agp.paths import shipped

    return shipped("images").parent


def _work_cache() -> Path:
    """``.cache/`` of the checkout, or ``<agp data dir>/cache`` when agp is installed."""
    from agp.paths import data_dir, repo_root

    if (repo_root() / "pyproject.toml").is_file():
        return repo_root() / ".cache"
    return data_dir() / "cache"


def _sha256_files(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(str(p.relative_to(_repo())).encode() + b"\0")
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _deb822_entries(text: str) -> list[dict[str, str]]:
    entries: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    for line in text.splitlines() + [""]:
        if not line.strip():
            if cur:
                entries.append(cur)
            cur = {}
            continue
        if line.startswith("#") or line[:1].isspace():
            continue
        if ":" in line:
            k, v = line.split(":", 1)
            cur[k.strip().lower()] = v.strip()
    return entries


def apt_mirror(suite: str = BASE_SUITE, root: Path = Path("/etc/apt")) -> str:
    """The Debian mirror apt is configured with for ``suite`` (main archive, not security/updates)."""
    candidates: list[str] = []
    lists = [root / "sources.list", *sorted((root / "sources.list.d").glob("*.list"))]
    for f in lists:
        try:
            text = f.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            parts = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
            if len(parts) >= 3 and parts[0] == "deb" and parts[2] == suite:
                candidates.append(parts[1])
    for f in sorted((root / "sources.list.d").glob("*.sources")):
        try:
            entries = _deb822_entries(f.read_text())
        except OSError:
            continue
        for e in entries:
            if "deb" not in e.get("types", "").split() or e.get("enabled", "yes").lower() == "no":
                continue
            if suite in e.get("suites", "").split():
                candidates.extend(e.get("uris", "").split())
    for uri in candidates:
        if uri.startswith(("http://", "https://", "file:/")):
            return uri.rstrip("/")
    raise SandboxError(f"no apt source for Debian {suite} in {root}/sources.list(.d); cannot build the base image")


def _base_files() -> list[Path]:
    return sorted(p for p in (_repo() / "images" / "base").rglob("*") if p.is_file())


def _base_packages() -> list[str]:
    text = (_repo() / "images" / "base" / "packages.txt").read_text()
    return sorted({w for line in text.splitlines() for w in line.split("#", 1)[0].split()})


def base_inputs(mirror: str | None = None) -> dict[str, Any]:
    return {
        "suite": BASE_SUITE,
        "variant": "minbase",
        "mirror": mirror or apt_mirror(),
        "packages": _base_packages(),
        "files": _sha256_files(_base_files()),
    }


def _find_image_by_inputs(client: Any, digest: str, tag: str) -> str | None:
    """The image built from these inputs: it carries the label and the tag the build gave it. The label
    alone is not enough: an image built FROM an agp image (and the untagged layers a failed build of it
    leaves behind) inherits the parent's labels, ``agp.inputs`` included."""
    for img in client.images.list(filters={"label": f"agp.inputs={digest}"}):
        if tag in (img.tags or []):
            return str(img.id)
    return None


def _run(cmd: list[str], log: Log, **kw: Any) -> None:
    log("    $ " + " ".join(cmd[:6]) + (" ..." if len(cmd) > 6 else ""))
    r = subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)
    if r.returncode != 0:
        raise SandboxError(f"{cmd[0]} failed ({r.returncode}): {(r.stderr or r.stdout)[-2000:]}")


def _cache_dir() -> Path:
    d = Path(os.environ.get("AGP_IMAGE_CACHE") or _work_cache() / "images")
    d.mkdir(parents=True, exist_ok=True)
    return d


def build_base(*, client: Any | None = None, force: bool = False, log: Log = print) -> dict[str, Any]:
    """debootstrap + finalize + docker import; skipped when an image with the same inputs exists."""
    client = client or _client()
    inputs = base_inputs()
    digest = _digest(inputs)
    have = None if force else _find_image_by_inputs(client, digest, f"agp/base:{digest[:12]}")
    if have:
        log(f"    base: up to date ({have[:19]}, inputs {digest[:12]})")
        return {"id": have, "inputs": digest, "tag": f"agp/base:{digest[:12]}", "built": False}
    if shutil.which("debootstrap") is None:
        raise SandboxError("debootstrap is not installed (scripts/setup.d/10-system.sh installs it)")
    if os.geteuid() != 0:
        raise SandboxError("building the base image needs root (debootstrap)")
    t0 = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="agp-base-", dir=_cache_dir()))
    try:
        rootfs = work / "rootfs"
        log(
            f"    base: debootstrap --variant=minbase {BASE_SUITE} from {inputs['mirror']} "
            f"(+ {', '.join(inputs['packages'])})"
        )
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=" + ",".join(inputs["packages"]),
                BASE_SUITE,
                str(rootfs),
                inputs["mirror"],
            ],
            log,
        )
        _run(["bash", str(_repo() / "images" / "base" / "finalize.sh"), str(rootfs)], log)
        tarball = work / "rootfs.tar"
        _run(["tar", "--numeric-owner", "--xattrs", "-C", str(rootfs), "-cf", str(tarball), "."], log)
        tag = digest[:12]
        changes = [
            f"LABEL agp.inputs={digest}",
            "LABEL agp.role=base",
            f"LABEL agp.base.suite={BASE_SUITE}",
            "ENV PATH=/usr/local/bin:/usr/bin:/bin",
            "ENV HOME=/home/agent",
            "ENV LANG=C.UTF-8",
            "USER 10001:10001",
            "WORKDIR /workspace",
            'CMD ["sleep", "infinity"]',
        ]
        res = client.api.import_image_from_file(str(tarball), repository="agp/base", tag=tag, changes=changes)
        image_id = client.api.inspect_image(f"agp/base:{tag}")["Id"]
        log(f"    base: imported {image_id[:19]} in {time.monotonic() - t0:.0f}s")
        del res
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"id": image_id, "inputs": digest, "tag": f"agp/base:{tag}", "built": True}


# --------------------------------------------------------------------------- harness binaries


def _pins() -> dict[str, Any]:
    from agp.paths import intendant_pins

    return json.loads(intendant_pins().read_text())


def _is_elf(p: Path) -> bool:
    try:
        with open(p, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def _npm_prefix(name: str, version: str, log: Log) -> Path:
    """The npm install of a pinned harness (shared with scripts/setup.d/50-harnesses.sh's layout)."""
    pin = _pins()[name]
    dest = Path(os.environ.get("AGP_HARNESS_DIR") or _work_cache() / "harnesses") / f"{name}-{version}"
    lock = dest / "node_modules" / ".package-lock.json"
    if lock.exists():
        return dest
    if shutil.which("npm") is None:
        raise SandboxError("npm is not installed; it is needed to fetch the harness binaries")
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    log(f"    {name}: npm install {pin['npm']}@{version}")
    _run(
        [
            "npm",
            "install",
            "--prefix",
            str(tmp),
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            "--save-exact",
            f"{pin['npm']}@{version}",
        ],
        log,
    )
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)
    return dest


def harness_binaries(name: str, *, log: Log = print) -> tuple[str, dict[str, Path], str]:
    """(version, {file name in the build context: host path}, integrity digest) for a harness image."""
    version = _pins()[name]["version"]
    prefix = _npm_prefix(name, version, log)
    nm = prefix / "node_modules"
    files: dict[str, Path] = {}
    if name == "claude-code":
        cands = [
            nm / "@anthropic-ai/claude-code/bin/claude.exe",
            *sorted(Path(p) for p in glob.glob(str(nm / "@anthropic-ai/claude-code-linux-*/claude"))),
        ]
        found = [c for c in cands if _is_elf(c)]
        if not found:
            raise SandboxError(f"no native claude binary in {nm} (looked at {[str(c) for c in cands]})")
        files["claude"] = found[0]
    elif name == "codex":
        vend = sorted(Path(p) for p in glob.glob(str(nm / "@openai/codex-linux-*/vendor/*-linux-musl")))
        if not vend or not _is_elf(vend[0] / "bin" / "codex"):
            raise SandboxError(f"no native codex binary under {nm}/@openai/codex-linux-*/vendor")
        files["codex"] = vend[0] / "bin" / "codex"
        if (vend[0] / "codex-path" / "rg").exists():
            files["rg"] = vend[0] / "codex-path" / "rg"
    else:
        raise SandboxError(f"{name} has no harness binaries")
    lock = json.loads((nm / ".package-lock.json").read_text())
    integ = {k: v.get("integrity") for k, v in sorted(lock.get("packages", {}).items())}
    return version, files, _digest(integ)


# --------------------------------------------------------------------------- intendant images


def _common_files() -> list[Path]:
    return sorted(p for p in (_repo() / "images" / "common").rglob("*") if p.is_file())


def build_intendant(
    name: str, base_id: str, *, client: Any | None = None, force: bool = False, log: Log = print
) -> dict[str, Any]:
    """Build images/<name>/Dockerfile FROM the base, offline (--network none); skipped if inputs match."""
    client = client or _client()
    if name not in INTENDANTS:
        raise SandboxError(f"unknown intendant image {name!r} (one of {', '.join(INTENDANTS)})")
    ddir = _repo() / "images" / name
    dockerfile = ddir / "Dockerfile"
    version, binaries, integrity = (None, {}, None) if name not in registry.REAL else harness_binaries(name, log=log)
    inputs = {
        "base": base_id,
        "files": _sha256_files([dockerfile, *_common_files()]),
        "harness": {"version": version, "integrity": integrity},
    }
    digest = _digest(inputs)
    have = None if force else _find_image_by_inputs(client, digest, f"agp/{name}:{digest[:12]}")
    if have:
        log(f"    {name}: up to date ({have[:19]}, inputs {digest[:12]})")
        return {
            "id": have,
            "inputs": digest,
            "tag": f"agp/{name}:{digest[:12]}",
            "built": False,
            "harness_version": version,
        }
    t0 = time.monotonic()
    ctx = Path(tempfile.mkdtemp(prefix=f"ctx-{name}-", dir=_cache_dir()))
    try:
        shutil.copy2(dockerfile, ctx / "Dockerfile")
        for f in _common_files():
            shutil.copy2(f, ctx / f.name)
        for fname, src in binaries.items():
            try:
                os.link(src, ctx / fname)
            except OSError:
                shutil.copy2(src, ctx / fname)
        labels = {"agp.inputs": digest, "agp.role": "intendant", "agp.intendant": name}
        if version:
            labels["agp.harness.version"] = version
        tag = f"agp/{name}:{digest[:12]}"
        log(f"    {name}: docker build --network none --build-arg BASE={base_id[:19]}…")
        image_id = _docker_build(client, ctx, name, tag, base_id, labels)
        log(f"    {name}: built {image_id[:19]} in {time.monotonic() - t0:.0f}s")
        return {"id": image_id, "inputs": digest, "tag": tag, "built": True, "harness_version": version}
    finally:
        shutil.rmtree(ctx, ignore_errors=True)


def _docker_build(client: Any, ctx: Path, name: str, tag: str, base_id: str, labels: dict[str, str]) -> str:
    """``docker build`` of ``ctx`` FROM ``base_id`` (build arg BASE) with no network; the new image's
    id. A failed build is a SandboxError that carries the tail of the build's log."""
    try:
        image, _logs = client.images.build(
            path=str(ctx),
            tag=tag,
            buildargs={"BASE": base_id},
            network_mode="none",
            labels=labels,
            rm=True,
            forcerm=True,
            pull=False,
        )
    except Exception as exc:  # docker.errors.BuildError / APIError
        steps = [str(x.get("stream") or x.get("error") or "") for x in getattr(exc, "build_log", None) or []]
        tail = "".join(steps)[-1500:].strip()
        raise SandboxError(f"building {name} failed: {exc}" + (f"\n{tail}" if tail else "")) from exc
    return str(image.id)


# --------------------------------------------------------------------------- toolchain images


def _dpkg_status(client: Any, image_id: str) -> bytes:
    """/var/lib/dpkg/status of an image, read from a container that is created and never started."""
    import io
    import tarfile

    c = client.containers.create(image_id, command=["true"], network_disabled=True, labels={"agp.role": "probe"})
    try:
        stream, _stat = c.get_archive("/var/lib/dpkg/status")
        data = b"".join(stream)
    finally:
        c.remove(force=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        member = tf.extractfile("status")
        if member is None:
            raise SandboxError(f"image {image_id[:19]} has no /var/lib/dpkg/status")
        return member.read()


def _apt(args: list[str], log: Log, *, cwd: Path | None = None, refresh: bool = False) -> str:
    """apt-get ARGS; with ``refresh``, a failure (no lists yet, or lists naming versions the mirror no
    longer has) is retried once after ``apt-get update`` when we are root (it needs root)."""
    if shutil.which("apt-get") is None:
        raise SandboxError("apt-get is not available: the toolchain images take their packages from Debian's mirror")
    log("    $ apt-get " + " ".join(args[:8]) + (" ..." if len(args) > 8 else ""))
    r = subprocess.run(["apt-get", *args], capture_output=True, text=True, check=False, cwd=cwd)
    if r.returncode != 0 and refresh and os.geteuid() == 0:
        log("    apt-get failed: refreshing apt's package lists (apt-get update) and trying once more")
        _apt(["update", "-qq"], log)
        r = subprocess.run(["apt-get", *args], capture_output=True, text=True, check=False, cwd=cwd)
    if r.returncode != 0:
        raise SandboxError(
            f"apt-get {args[-1] if args else ''} failed ({r.returncode}): {(r.stderr or r.stdout)[-2000:]}"
        )
    return r.stdout


_INST_RE = re.compile(r"^Inst (\S+) (?:\[[^]]*\] )?\((\S+) .*\[(\S+)\]\)", re.M)


def _resolve_debs(status: Path, packages: list[str], log: Log) -> list[tuple[str, str, str]]:
    """(name, version, arch) of every package apt would add to a system whose dpkg status is ``status``
    to install ``packages`` without recommends (a simulation: nothing is installed or locked)."""
    out = _apt(
        [
            "-s",
            "-o",
            f"Dir::State::status={status}",
            "-o",
            "Debug::NoLocking=1",
            "-o",
            "APT::Get::Show-User-Simulation-Note=0",
            "install",
            "--no-install-recommends",
            *packages,
        ],
        log,
        refresh=True,
    )
    found = _INST_RE.findall(out)
    if not found and packages:
        raise SandboxError(f"apt resolved no package to install for {packages} (already in the image?): {out[-1000:]}")
    return sorted(found)


def _apt_lists_state(root: Path = Path("/var/lib/apt/lists")) -> list[list[object]]:
    """Name, size and mtime of apt's package lists: a resolution holds while they are unchanged."""
    try:
        files = sorted(p for p in root.iterdir() if p.is_file() and "_Packages" in p.name)
    except OSError:
        return []
    return [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files]


def _resolve_debs_cached(status: Path, packages: list[str], log: Log) -> list[tuple[str, str, str]]:
    """:func:`_resolve_debs`, remembered in the image cache for the same dpkg status, packages and apt
    lists (apt builds its cache anew for a foreign status file: seconds on each ``agp images build``)."""
    key = _digest(
        {"status": hashlib.sha256(status.read_bytes()).hexdigest(), "packages": packages, "lists": _apt_lists_state()}
    )
    memo = _cache_dir() / "debs" / f"resolved-{key[:32]}.json"
    try:
        return [(str(n), str(v), str(a)) for n, v, a in json.loads(memo.read_text())]
    except (OSError, ValueError, TypeError):
        pass
    debs = _resolve_debs(status, packages, log)
    memo.parent.mkdir(parents=True, exist_ok=True)
    tmp = memo.with_suffix(".tmp")
    tmp.write_text(json.dumps(debs))
    os.replace(tmp, memo)
    return debs


def _download_debs(debs: list[tuple[str, str, str]], log: Log) -> list[Path]:
    """The .debs from the mirror apt uses (cached in the image cache; apt checks each against the signed
    lists). When a version is no longer on the mirror and we are root, apt's lists are refreshed once."""
    dest = _cache_dir() / "debs"
    dest.mkdir(parents=True, exist_ok=True)

    def path(n: str, v: str, a: str) -> Path:
        return dest / f"{n}_{v.replace(':', '%3a')}_{a}.deb"

    missing = [(n, v, a) for n, v, a in debs if not path(n, v, a).is_file()]
    if missing:
        log(f"    downloading {len(missing)} Debian package(s): {', '.join(n for n, _v, _a in missing)}")
        _apt(["download", *[f"{n}={v}" for n, v, _a in missing]], log, cwd=dest, refresh=True)
    paths = [path(n, v, a) for n, v, a in debs]
    absent = [p.name for p in paths if not p.is_file()]
    if absent:
        raise SandboxError(f"apt-get download left out {absent}")
    return paths


def _npm_tarball(pin: dict[str, str], log: Log) -> Path:
    """The npm registry's tarball of ``pin['package']@pin['version']``, checked against ``pin['integrity']``."""
    import base64

    algo, _, want = pin["integrity"].partition("-")
    if algo != "sha512" or not want:
        raise SandboxError(f"npm.json: integrity must be sha512-<base64>, not {pin['integrity']!r}")
    dest = _cache_dir() / "npm"
    dest.mkdir(parents=True, exist_ok=True)
    name = f"{pin['package'].lstrip('@').replace('/', '-')}-{pin['version']}.tgz"
    out = dest / name

    def ok(p: Path) -> bool:
        return p.is_file() and base64.b64encode(hashlib.sha512(p.read_bytes()).digest()).decode() == want

    if ok(out):
        return out
    if shutil.which("npm") is None:
        raise SandboxError("npm is not installed; it is needed to fetch the npm CLI's tarball")
    log(f"    npm pack {pin['package']}@{pin['version']}")
    _run(["npm", "pack", "--silent", "--pack-destination", str(dest), f"{pin['package']}@{pin['version']}"], log)
    if not ok(out):
        got = base64.b64encode(hashlib.sha512(out.read_bytes()).digest()).decode() if out.is_file() else None
        out.unlink(missing_ok=True)
        raise SandboxError(f"{name}: integrity sha512-{got} is not the pinned {pin['integrity']}")
    return out


def build_toolchain(
    name: str, parent_id: str, *, client: Any | None = None, force: bool = False, log: Log = print
) -> dict[str, Any]:
    """Build images/<name>/Dockerfile FROM its intendant's image (``parent_id``) with the Debian packages
    and the npm CLI downloaded on the host, offline (--network none); skipped if the inputs match."""
    client = client or _client()
    if name not in TOOLCHAINS:
        raise SandboxError(f"unknown toolchain image {name!r} (one of {', '.join(TOOLCHAINS)})")
    ddir = _repo() / "images" / name
    files = sorted(p for p in ddir.rglob("*") if p.is_file())
    packages = sorted(
        {w for line in (ddir / "packages.txt").read_text().splitlines() for w in line.split("#", 1)[0].split()}
    )
    npm_pin = json.loads((ddir / "npm.json").read_text())
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"agp-{name}-", dir=_cache_dir()) as tmp:
        status = Path(tmp) / "status"
        status.write_bytes(_dpkg_status(client, parent_id))
        debs = _resolve_debs_cached(status, packages, log)
    inputs = {
        "base": parent_id,
        "files": _sha256_files(files),
        "debs": [f"{n}={v} {a}" for n, v, a in debs],
        "npm": {k: npm_pin[k] for k in ("package", "version", "integrity")},
    }
    digest = _digest(inputs)
    have = None if force else _find_image_by_inputs(client, digest, f"agp/{name}:{digest[:12]}")
    if have:
        log(f"    {name}: up to date ({have[:19]}, inputs {digest[:12]})")
        return {
            "id": have,
            "inputs": digest,
            "tag": f"agp/{name}:{digest[:12]}",
            "built": False,
            "harness_version": None,
        }
    deb_paths = _download_debs(debs, log)
    tarball = _npm_tarball(npm_pin, log)
    ctx = Path(tempfile.mkdtemp(prefix=f"ctx-{name}-", dir=_cache_dir()))
    try:
        shutil.copy2(ddir / "Dockerfile", ctx / "Dockerfile")
        (ctx / "debs").mkdir()
        for src, dst in [*((p, ctx / "debs" / p.name) for p in deb_paths), (tarball, ctx / "npm.tgz")]:
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)
        labels = {
            "agp.inputs": digest,
            "agp.role": "intendant",
            "agp.intendant": TOOLCHAINS[name],
            "agp.toolchain": name,
        }
        tag = f"agp/{name}:{digest[:12]}"
        log(
            f"    {name}: docker build --network none --build-arg BASE={parent_id[:19]}… "
            f"({len(deb_paths)} .debs, {npm_pin['package']}@{npm_pin['version']})"
        )
        image_id = _docker_build(client, ctx, name, tag, parent_id, labels)
        log(f"    {name}: built {image_id[:19]} in {time.monotonic() - t0:.0f}s")
        return {"id": image_id, "inputs": digest, "tag": tag, "built": True, "harness_version": None}
    finally:
        shutil.rmtree(ctx, ignore_errors=True)


def build_all(
    *, only: list[str] | None = None, force: bool = False, client: Any | None = None, log: Log = print
) -> dict[str, dict[str, Any]]:
    """Build the base, the intendant images and the toolchain images (all, or ``only``, with the intendant
    images they start from), then record their ids in the pin file."""
    client = client or _client()
    names = list(only or ALL_IMAGES)
    for n in names:
        if n not in ALL_IMAGES:
            raise SandboxError(f"unknown image {n!r} (one of {', '.join(ALL_IMAGES)})")
    intendants = [n for n in INTENDANTS if n in names or any(TOOLCHAINS.get(t) == n for t in names)]
    pins = load_pins()
    base = build_base(client=client, force=force, log=log)
    pins["base"] = {k: base[k] for k in ("id", "inputs", "tag")}
    _save_pins(pins)
    results = {"base": base}
    for n in intendants:
        r = build_intendant(n, base["id"], client=client, force=force, log=log)
        results[n] = r
        pins[n] = {k: r[k] for k in ("id", "inputs", "tag", "harness_version")}
        _save_pins(pins)
    for n in (t for t in TOOLCHAINS if t in names):
        r = build_toolchain(n, results[TOOLCHAINS[n]]["id"], client=client, force=force, log=log)
        results[n] = r
        pins[n] = {k: r[k] for k in ("id", "inputs", "tag", "harness_version")}
        _save_pins(pins)
    return results

"""`agp verify` on bundles as a user runs it (a real subprocess): every flag applied or refused,
a trust root required, the headline always agreeing with the exit status, one JSON shape, and
bundles found in run directories, demo outputs, zips and tarballs."""

import io
import json
import subprocess
import sys
import tarfile
import zipfile
from concurrent.futures import ThreadPoolExecutor

import pytest

from agp.evidence import build_bundle
from agp.journal import Journal, init_keys
from agp.journal.head import head_path_for
from agp.journal.witness import WitnessState, init_witness, load_log_key
from tests.unit.evidence._runs import make_run

AGP = [sys.executable, "-m", "agp.cli"]


def agp(*args):
    return subprocess.run([*AGP, *map(str, args)], capture_output=True, text=True)


def agp_many(*cmds):
    """Run several `agp` commands at once (each is a separate process) and return their results."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda c: agp(*c), cmds))


def headline_agrees(r):
    """The first line on stdout says ✓ exactly when the exit status is 0 (and something was printed)."""
    first = r.stdout.splitlines()[0] if r.stdout.strip() else ""
    if r.returncode == 0:
        return first.startswith("✓")
    if r.returncode == 1:
        return first.startswith("✗")
    return "✓" not in r.stdout  # usage errors print no verdict


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A good run with its bundle (as `agp run` leaves it: run/bundle), a demo-like --out, the
    auditor's key, another journal under the same key, and two witnesses, one of which cosigned."""
    tmp = tmp_path_factory.mktemp("verify")
    run, key = make_run(tmp)
    build_bundle(run, run / "bundle", key)
    pub = tmp / "auditor.pub"
    pub.write_bytes(key.public.to_pem())
    other = tmp / "other.pub"
    other.write_bytes(init_keys(tmp / "other-keys").public.to_pem())
    demo = tmp / "demo-out"
    demo_run, demo_key = make_run(tmp / "demo-src")
    (demo / "runs").mkdir(parents=True)
    build_bundle(demo_run, demo / "runs" / "20261123T092756Z-784d88" / "bundle", demo_key)
    # another journal under the same key: its checkpoint and head belong to another log
    with Journal.open(tmp / "elsewhere.jsonl", key) as j:
        j.append("gate.decision", "s", {"i": 1})
    cp = json.loads((run / "bundle" / "journal.jsonl.head").read_text())["checkpoint"]
    (tmp / "cp.txt").write_text(cp)
    (tmp / "foreign.cp").write_text(json.loads(head_path_for(tmp / "elsewhere.jsonl").read_text())["checkpoint"])
    w1 = init_witness(tmp / "w1", "w1.example")
    w2 = init_witness(tmp / "w2", "w2.example")
    (tmp / "w1.vkey").write_text(w1.vkey)
    (tmp / "w2.vkey").write_text(w2.vkey)
    origin = cp.splitlines()[0]
    log_key = load_log_key(pub, origin)
    (tmp / "cp.cosigned").write_text(w1.cosign(cp, WitnessState.load(tmp / "w1" / "state.json"), log_key=log_key))
    return {"tmp": tmp, "run": run, "bundle": run / "bundle", "pub": pub, "other": other, "demo": demo,
            "demo_pub": demo_key.public}


def test_flags_on_a_bundle_are_applied(world):
    """--since, --witness, --min-witnesses and --head act on the bundle's journal: each passes when
    it holds and fails (exit 1, ✗) when it does not. Before, all four were ignored with exit 0."""
    t, b, pub = world["tmp"], world["bundle"], world["pub"]
    cases = [
        (["--since", t / "cp.txt"], 0),
        (["--since", t / "foreign.cp"], 1),
        (["--witness", t / "w1.vkey", "--checkpoint", t / "cp.cosigned"], 0),
        (["--witness", t / "w2.vkey", "--checkpoint", t / "cp.cosigned"], 1),
        (["--witness", t / "w1.vkey", "--witness", t / "w2.vkey", "--checkpoint", t / "cp.cosigned"], 1),
        (["--witness", t / "w1.vkey", "--witness", t / "w2.vkey", "--min-witnesses", "1", "--checkpoint", t / "cp.cosigned"], 0),
        (["--witness", t / "w1.vkey", "--witness", t / "w2.vkey", "--min-witnesses", "2", "--checkpoint", t / "cp.cosigned"], 1),
        (["--head", b / "journal.jsonl.head"], 0),
        (["--head", head_path_for(t / "elsewhere.jsonl")], 1),
    ]
    results = agp_many(*[["verify", b, "--key", pub, "--json", *extra] for extra, _ in cases]
                       + [["verify", b, "--key", pub, *extra] for extra, _ in cases])
    n = len(cases)
    for (extra, want), rj, rt in zip(cases, results[:n], results[n:]):
        label = " ".join(map(str, extra))
        assert rj.returncode == want, (label, rj.stdout, rj.stderr)
        doc = json.loads(rj.stdout)
        assert doc["ok"] is (want == 0) and doc["kind"] == "bundle", label
        assert rt.returncode == want and headline_agrees(rt), (label, rt.stdout)
        if want:
            codes = {e["code"] for e in doc["errors"]}
            assert codes & {"not_extending_checkpoint", "witnesses_insufficient", "head_invalid"}, (label, doc["errors"])
            assert all(set(e) >= {"code", "message", "where"} for e in doc["errors"])
    assert "since" in json.loads(results[0].stdout) and "witnesses" in json.loads(results[2].stdout)


def test_a_bundle_needs_a_trust_root(world):
    b, pub = world["bundle"], world["pub"]
    none, tofu, both, journal_tofu, tofu_json = agp_many(
        ["verify", b], ["verify", b, "--tofu"], ["verify", b, "--tofu", "--key", pub],
        ["verify", b / "journal.jsonl", "--tofu"], ["verify", b, "--tofu", "--json"])
    assert none.returncode == 2 and none.stdout == ""
    assert len(none.stderr.strip().splitlines()) == 1 and "--key PUB" in none.stderr and "--tofu" in none.stderr
    assert tofu.returncode == 0 and "trust on first use" in tofu.stdout and headline_agrees(tofu)
    assert json.loads(tofu_json.stdout)["trust"].startswith("the bundle's own key")
    assert both.returncode == 2 and "cannot be combined" in both.stderr
    assert journal_tofu.returncode == 2 and "bundles only" in journal_tofu.stderr


def test_options_that_cannot_apply_are_refused_with_exit_2(world):
    t, b, pub = world["tmp"], world["bundle"], world["pub"]
    j = b / "journal.jsonl"
    cases = [
        (["verify", j, "--key", pub, "--witness", t / "w1.vkey"], "--witness needs --checkpoint"),
        (["verify", j, "--key", pub, "--checkpoint", t / "cp.cosigned"], "--checkpoint goes with --witness"),
        (["verify", b, "--key", pub, "--checkpoint", t / "cp.cosigned"], "--checkpoint goes with --witness"),
        (["verify", j, "--key", pub, "--min-witnesses", "1"], "--min-witnesses needs --witness"),
        (["verify", j, "--key", pub, "--witness", t / "w1.vkey", "--min-witnesses", "3", "--checkpoint", t / "cp.cosigned"],
         "between 1 and"),
        (["verify", j, "--key", pub, "--witness", t / "w1.vkey", "--checkpoint", t / "missing.cp"], "cannot read"),
        (["verify", j, "--key", pub, "--since", t / "missing.cp"], "cannot read"),
        (["verify", b, "--key", pub, "--since", t / "missing.cp"], "cannot read"),
        (["verify", b, "--key", pub, "--head", t / "missing.head"], "no head file"),
        (["verify", j, "--entry", j, "--proof", j, "--key", pub], "does not apply to --entry"),
        (["verify", "--entry", j, "--key", pub], "--entry and --proof go together"),
        (["verify", t / "nothing-here", "--key", pub], "no journal or bundle"),
        (["verify", t, "--key", pub], "not an evidence bundle"),
        (["verify", j, "--key", pub, "--workers", "0"], "--workers"),
    ]
    for (cmd, msg), r in zip(cases, agp_many(*[c for c, _ in cases])):
        assert r.returncode == 2, (cmd, r.stdout, r.stderr)
        assert msg in r.stderr and headline_agrees(r), (cmd, r.stderr)
    # --json: the same refusal, as JSON on stdout
    r = agp("verify", j, "--key", pub, "--min-witnesses", "1", "--json")
    doc = json.loads(r.stdout)
    assert r.returncode == 2 and doc["ok"] is False and doc["errors"][0]["code"] == "usage_error"


def test_headline_and_exit_status_agree_on_every_failure(world, tmp_path):
    """A journal that fails, a bundle that fails, a --since or --witness check that fails: ✗ and exit 1,
    and --json prints the failure with codes."""
    t, b, pub = world["tmp"], world["bundle"], world["pub"]
    broken = tmp_path / "broken"
    import shutil

    shutil.copytree(b, broken)
    (broken / "aar.md").write_text("edited\n")
    j = tmp_path / "j.jsonl"
    shutil.copy(b / "journal.jsonl", j)
    shutil.copy(b / "journal.jsonl.head", tmp_path / "j.jsonl.head")
    nohead = tmp_path / "nohead.jsonl"
    shutil.copy(b / "journal.jsonl", nohead)
    cases = [
        ["verify", j, "--key", pub],
        ["verify", j, "--key", world["other"]],
        ["verify", nohead, "--key", pub],
        ["verify", j, "--key", pub, "--since", t / "foreign.cp"],
        ["verify", j, "--key", pub, "--witness", t / "w2.vkey", "--checkpoint", t / "cp.cosigned"],
        ["verify", broken, "--key", pub],
        ["verify", b, "--key", world["other"]],
    ]
    want = [0, 1, 1, 1, 1, 1, 1]
    results = agp_many(*cases, *[[*c, "--json"] for c in cases])
    n = len(cases)
    for cmd, w, r, rj in zip(cases, want, results[:n], results[n:]):
        assert r.returncode == w and headline_agrees(r), (cmd, r.stdout, r.stderr)
        doc = json.loads(rj.stdout)
        assert rj.returncode == w and doc["ok"] is (w == 0), cmd
        assert all(set(e) >= {"code", "message", "where"} and e["code"] for e in doc["errors"]), doc["errors"]
    assert json.loads(results[n + 2].stdout)["errors"][-1]["code"] == "head_missing"
    assert json.loads(results[n + 5].stdout)["errors"][0] == {
        "code": "file_changed", "where": "aar.md",
        "message": json.loads(results[n + 5].stdout)["errors"][0]["message"]}


def test_journal_and_bundle_results_have_one_shape(world):
    b, pub = world["bundle"], world["pub"]
    rj, rb = agp_many(["verify", b / "journal.jsonl", "--key", pub, "--json"], ["verify", b, "--key", pub, "--json"])
    dj, db = json.loads(rj.stdout), json.loads(rb.stdout)
    assert dj["ok"] is db["ok"] is True and dj["errors"] == db["errors"] == []
    assert (dj["kind"], db["kind"]) == ("journal", "bundle") and "failures" not in db
    assert db["journal"]["errors"] == [] and db["journal"]["ok"] is True


def test_a_run_directory_and_a_demo_output_lead_to_their_bundle(world):
    run, demo, pub = world["run"], world["demo"], world["pub"]
    demo_pub = world["tmp"] / "demo.pub"
    demo_pub.write_bytes(world["demo_pub"].to_pem())
    r_run, r_demo = agp_many(["verify", run, "--key", pub], ["verify", demo, "--key", demo_pub])
    assert r_run.returncode == 0 and f"verifying the bundle at {run / 'bundle'}" in r_run.stderr, r_run.stderr
    where = demo / "runs" / "20261123T092756Z-784d88" / "bundle"
    assert r_demo.returncode == 0 and f"verifying the bundle at {where}" in r_demo.stderr, r_demo.stderr


def _zip_dir(src, dest, prefix=""):
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(src.rglob("*")):
            if p.is_file():
                z.write(p, prefix + p.relative_to(src).as_posix())


def test_zip_and_tarball_bundles_verify_in_place(world, tmp_path):
    """A CI artifact: GitHub Actions zips the uploaded files, at the top or under one directory.
    Nothing is extracted: the temporary directory holds only the archives afterwards."""
    b, pub = world["bundle"], world["pub"]
    flat, wrapped, tgz = tmp_path / "flat.zip", tmp_path / "evidence-bundle.zip", tmp_path / "bundle.tar.gz"
    _zip_dir(b, flat)
    _zip_dir(b, wrapped, prefix="bundle/")
    with tarfile.open(tgz, "w:gz") as tf:
        tf.add(b, arcname=".")
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(wrapped) as zin, zipfile.ZipFile(tampered, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info.filename, data.replace(b"deny 1", b"deny 0") if info.filename.endswith("aar.md") else data)
    before = sorted(p.name for p in tmp_path.iterdir())
    r_flat, r_wrapped, r_tgz, r_bad, r_json = agp_many(
        ["verify", flat, "--key", pub], ["verify", wrapped, "--key", pub], ["verify", tgz, "--key", pub],
        ["verify", tampered, "--key", pub], ["verify", wrapped, "--key", pub, "--json"])
    for r in (r_flat, r_wrapped, r_tgz):
        assert r.returncode == 0 and headline_agrees(r), r.stdout + r.stderr
    assert f"verifying the bundle at {wrapped}!/bundle" in r_wrapped.stderr
    assert r_bad.returncode == 1 and headline_agrees(r_bad) and "[file_changed] aar.md" in r_bad.stdout
    assert json.loads(r_json.stdout)["gated"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing extracted


def test_a_hostile_archive_is_refused_with_exit_1(world, tmp_path):
    pub = world["pub"]
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        _zip_dir_into(z, world["bundle"])
        info = zipfile.ZipInfo("keys/agp.pub.link")
        info.create_system = 3
        info.external_attr = (0o120777 << 16)
        z.writestr(info, "/etc/passwd")
    tar = tmp_path / "evil.tar.gz"
    with tarfile.open(tar, "w:gz") as tf:
        ti = tarfile.TarInfo("../escape")
        ti.size = 1
        tf.addfile(ti, io.BytesIO(b"x"))
    r_zip, r_tar, r_json = agp_many(["verify", evil, "--key", pub], ["verify", tar, "--key", pub],
                                    ["verify", evil, "--key", pub, "--json"])
    assert r_zip.returncode == 1 and headline_agrees(r_zip) and "archive_link" in r_zip.stdout
    assert r_tar.returncode == 1 and headline_agrees(r_tar) and "archive_unsafe_name" in r_tar.stdout
    doc = json.loads(r_json.stdout)
    assert doc["ok"] is False and doc["errors"][0]["code"] == "archive_link" and doc["errors"][0]["where"] == str(evil)


def _zip_dir_into(z, src):
    for p in sorted(src.rglob("*")):
        if p.is_file():
            z.write(p, p.relative_to(src).as_posix())

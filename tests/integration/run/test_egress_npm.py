"""npm through the egress door, end to end: the real sandbox (network none) in the reference-node image
(the reference image with node and npm: `agp run --image reference-node`), the real gate and door, and
a minimal npm registry on 127.0.0.1 (packuments and tarballs over TLS with a test CA) pinned with
``agp run --resolve``.

npm in the box is pointed at the door by agp alone (the npm_config_* variables agp sets; the test
passes no proxy): ``npm install`` from the allowed registry lands the package in node_modules; from a
host with no rule it is refused before any resolution; in inspecting mode (the door terminates TLS
with the run's CA, which npm trusts through NODE_EXTRA_CA_CERTS) ``npm install`` is allowed and
``npm publish`` (a PUT, where the rule allows only GET) is refused inside TLS. Each connection is in
the journal.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from agp.errors import AgpError
from tests.support.egress import SEEN, http_server, make_ca, npm_package, own_for_the_box, run_through_door

pytestmark = [pytest.mark.docker, pytest.mark.slow]

#: npm's settings for each project directory (its .npmrc: the policy's classifier does not know npm's
#: other options on the command line); no proxy among them
NPMRC = "audit=false\nfund=false\nupdate-notifier=false\nfetch-retries=0\nloglevel=http\n"

#: runs `npm ARGS...` with its output in LOG: python3 npmrun.py LOG ARGS...
NPMRUN = """import subprocess, sys
with open(sys.argv[1], "wb") as log:
    subprocess.run(["npm", *sys.argv[2:]], stdout=log, stderr=subprocess.STDOUT, check=False)
"""


@pytest.fixture(scope="module")
def node_image():
    """The pinned reference-node image (`agp images build reference-node`; scripts/setup.sh builds it)."""
    from agp.sandbox.images import resolve_toolchain_image

    try:
        return resolve_toolchain_image("reference-node", "reference")
    except AgpError as exc:
        msg = (f"the reference-node image (node and npm for the box) is not built: {exc}. "
               "Build it with `agp images build reference-node` (scripts/setup.sh does)")
        if os.environ.get("AGP_SKIP_DOCKER") == "1":
            pytest.skip(msg + " (AGP_SKIP_DOCKER=1)")
        pytest.fail(msg, pytrace=False)


def test_npm_in_the_box_installs_only_through_the_door(tmp_path, node_image):
    www = tmp_path / "www"
    www.mkdir()
    ca = make_ca(tmp_path / "ca", ["registry.test", "other.test", "inspect.test"])
    ws = tmp_path / "ws"
    ws.mkdir()
    shutil.copy(ca.ca_pem, ws / "ca.pem")
    (ws / "npmrun.py").write_text(NPMRUN)
    (ws / "pub").mkdir()
    (ws / "pub" / "package.json").write_text(json.dumps({"name": "pubpkg", "version": "1.0.0"}))
    (ws / "pub" / "index.js").write_text("module.exports = 'published from the box';\n")
    with http_server(www, tls=ca) as port:
        reg, insp = f"https://registry.test:{port}", f"https://inspect.test:{port}"
        npm_package(www, "egpkg", "1.0.0", reg, {"index.js": "module.exports = 'installed through the egress door';\n"})
        npm_package(www, "inspkg", "1.0.0", insp, {"index.js": "module.exports = 'inspected on the way';\n"})
        # the test CA for the upstreams the door does not look into; in inspecting mode npm trusts the
        # run's CA through NODE_EXTRA_CA_CERTS, which agp sets
        # app's .npmrc also names a proxy of its own: agp's npm_config_* variables outrank it
        for d, registry in (("app", f"{reg}/\ncafile=/workspace/ca.pem\nhttps-proxy=http://127.0.0.1:9/"),
                            ("denied", f"https://other.test:{port}/\ncafile=/workspace/ca.pem"),
                            ("insp", f"{insp}/"),
                            ("pub", f"{insp}/\n//inspect.test:{port}/:_authToken=box-token")):
            (ws / d).mkdir(exist_ok=True)
            (ws / d / ".npmrc").write_text(f"{NPMRC}registry={registry}\n")
        own_for_the_box(ws)
        policy = tmp_path / "policy.toml"
        policy.write_text(f"""
[[rule]]
id = "tools"
effect = "allow"
program = ["npm", "python3", "cd"]

[[rule]]
id = "logs"
effect = "allow"
kind = ["write"]
location = ["inside"]

[[rule]]
id = "registry"
effect = "allow"
description = "the test npm registry (a loopback address, so private = true)"
kind = ["egress"]
host = ["registry.test"]
port = [{port}]
private = true

[[rule]]
id = "inspect-read"
effect = "allow"
description = "reads only: the door looks inside TLS, so a PUT (npm publish) is told apart"
kind = ["egress"]
host = ["inspect.test"]
port = [{port}]
method = ["GET"]
inspect = true
private = true
""")
        script = [
            # what npm itself says its proxy is: agp's set-up, nothing from this test
            # (npm config and npm publish are subcommands the classifier leaves unknown, so no rule can
            # allow them as commands; a script runs them, as code in the box could, and the door decides)
            {"tool": "Bash", "input": {"command": "python3 npmrun.py npm-https-proxy.txt config get https-proxy"}},
            {"tool": "Bash", "input": {"command": "python3 npmrun.py npm-proxy.txt config get proxy"}},
            {"tool": "Bash", "input": {"command": "cd app && npm install egpkg > /workspace/npm.log 2>&1"}},
            {"tool": "Bash", "input": {"command": "cd denied && npm install egpkg > /workspace/npm-denied.log 2>&1"}},
            {"tool": "Bash", "input": {"command": "cd insp && npm install inspkg > /workspace/npm-inspect.log 2>&1"}},
            {"tool": "Bash", "input": {"command": "python3 npmrun.py npm-publish.log publish --prefix pub ./pub"}},
        ]
        seen_before = len(SEEN)
        done = run_through_door(tmp_path, ws, policy, script, ca=ca, port=port,
                                hosts=["registry.test", "other.test", "inspect.test"],
                                extra=["--image", "reference-node"])
        upstream_saw = [p for p, _auth in SEEN[seen_before:]]
    doc, run_dir, entries = done.doc, done.run_dir, done.entries
    logs = {n: (ws / n).read_text() if (ws / n).exists() else "(missing)"
            for n in ("npm.log", "npm-denied.log", "npm-inspect.log", "npm-publish.log")}

    image = [e["body"] for e in entries if e["kind"] == "sandbox.image"]
    assert image == [{"intendant": "reference", "image_id": node_image.id, "image": "reference-node"}]
    gate = [e["body"] for e in entries if e["kind"] == "gate.decision"]
    assert [g["decision"] for g in gate] == ["allow"] * len(script), [g["reason"] for g in gate]

    # npm's proxy is the door's forwarder, from agp's environment
    assert (ws / "npm-https-proxy.txt").read_text().strip() == "http://127.0.0.1:8789"
    assert (ws / "npm-proxy.txt").read_text().strip() == "http://127.0.0.1:8789"

    # the allowed registry: the package is installed, fetched by the upstream through the door
    installed = ws / "app" / "node_modules" / "egpkg"
    assert (installed / "index.js").read_text() == "module.exports = 'installed through the egress door';\n", \
        logs["npm.log"][-3000:]
    assert json.loads((ws / "app" / "package.json").read_text())["dependencies"] == {"egpkg": "^1.0.0"}
    assert {"/egpkg", "/tarballs/egpkg-1.0.0.tgz"} <= set(upstream_saw), upstream_saw

    # the host with no rule: refused with the door's reason, nothing installed
    assert "403" in logs["npm-denied.log"] and "agp egress: denied" in logs["npm-denied.log"], \
        logs["npm-denied.log"][-3000:]
    assert not (ws / "denied" / "node_modules" / "egpkg").exists()

    # inspecting mode: install passes (GET), publish (PUT) is refused inside TLS, never reaches the upstream
    assert (ws / "insp" / "node_modules" / "inspkg" / "index.js").exists(), logs["npm-inspect.log"][-3000:]
    assert "E403" in logs["npm-publish.log"] or "403" in logs["npm-publish.log"], logs["npm-publish.log"][-3000:]
    assert "agp egress: denied" in logs["npm-publish.log"], logs["npm-publish.log"][-3000:]
    assert not any("pubpkg" in p for p in upstream_saw), upstream_saw

    decisions = [e["body"] for e in entries if e["kind"] == "egress.decision"]
    by_host: dict[str, set[str]] = {}
    for d in decisions:
        by_host.setdefault(d["host"], set()).add(d["decision"])
    assert by_host == {"registry.test": {"allow"}, "other.test": {"deny"}, "inspect.test": {"allow", "deny"}}, \
        decisions
    assert all(d["method"] == "CONNECT" and d["rule"] == "registry" for d in decisions
               if d["host"] == "registry.test"), decisions
    assert all("addresses" not in d and d["rule"] is None for d in decisions if d["host"] == "other.test")
    inspected = [(d["method"], d["path"], d["decision"]) for d in decisions if d["host"] == "inspect.test"]
    assert ("GET", "/inspkg", "allow") in inspected, inspected
    assert ("GET", "/tarballs/inspkg-1.0.0.tgz", "allow") in inspected, inspected
    assert [x for x in inspected if x[2] == "deny"] == [("PUT", "/pubpkg", "deny")], inspected
    assert all(d.get("inspected") for d in decisions if d["host"] == "inspect.test")
    closes = [e["body"] for e in entries if e["kind"] == "egress.close"]
    assert len(closes) == len([d for d in decisions if d["decision"] == "allow" or d.get("inspected")])
    # the token npm sent with the PUT is not in the journal
    assert "box-token" not in (run_dir / "journal.jsonl").read_text()
    assert doc["bundle_ok"], doc

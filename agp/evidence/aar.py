"""The after-action report: what ran, under which rules, what the gate decided, what went wrong.

Built from the verified journal first (signed) and the run's ``run.json`` second
(unsigned metadata written by ``agp run``); where both speak, both are shown and a
disagreement is an anomaly.
"""

from __future__ import annotations

import json
import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agp.evidence.reconcile import Anomaly, Reconciliation

__all__ = ("AarCollector", "build_aar", "policy_rules", "render_aar_md")

#: approval outcomes as agp.gate.approvals.Outcome writes them
_APPROVED = frozenset({"approved", "approved_automatically"})
_TIMED_OUT = frozenset({"timed_out"})
_DENIED = frozenset({"denied"})


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str) and value:
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    return None


def _toml_rules(path: Path) -> tuple[list[dict[str, Any]], str | None]:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return [], f"not readable TOML: {exc}"
    rules: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                if isinstance(item, dict) and "id" in item and "effect" in item:
                    rules.append(
                        {
                            "id": str(item["id"]),
                            "effect": str(item["effect"]),
                            "description": str(item.get("description", "")),
                        }
                    )
                else:
                    walk(item)
        elif isinstance(node, dict):
            for key, value in node.items():
                if key != "test":  # policy test cases are not rules
                    walk(value)

    walk(doc)
    return rules, None


def policy_rules(path: Path, name: str | None = None) -> dict[str, Any]:
    """The policy in force: ``{path, present, digest, rules: [{id, effect, description, matchers…}], error, source}``.

    Loaded with the policy engine (``agp.policy.load_policy``), which also gives the
    digest the gate records in each decision; if the engine refuses the file, the rules
    are listed from the TOML as written and ``error`` says why.
    """
    info: dict[str, Any] = {
        "path": name or path.name,
        "present": path.is_file(),
        "digest": None,
        "rules": [],
        "error": None,
        "source": None,
    }
    if not path.is_file():
        info["error"] = "no policy copy in the run"
        return info
    try:
        from agp.policy import load_policy

        pol = load_policy(path)
        info["digest"] = pol.digest if isinstance(pol.digest, str) else None
        info["rules"] = [r.model_dump(mode="json", exclude_none=True, exclude_defaults=True) for r in pol.rules]
        info["source"] = "agp.policy.load_policy"
        return info
    except Exception as exc:  # noqa: BLE001 - any refusal: fall back to the TOML text, say why
        info["error"] = f"the policy engine refused the copy: {exc}"
    info["rules"], toml_error = _toml_rules(path)
    info["source"] = "TOML as written"
    if toml_error:
        info["error"] += f"; {toml_error}"
    return info


def _preflight_passed(src: Any) -> bool | None:
    if not isinstance(src, dict):
        return None
    for key in ("ok", "passed", "pass"):
        if isinstance(src.get(key), bool):
            return src[key]
    result = src.get("result", src.get("status"))
    if isinstance(result, str):
        return result.lower() in ("ok", "pass", "passed", "success")
    return None


class AarCollector:
    """Streams over journal entries (constant memory in the journal's length) and builds the report."""

    def __init__(self) -> None:
        self.gated = 0
        self.counts: Counter[str] = Counter()
        self.by_tool: Counter[str] = Counter()
        self.by_rule: Counter[str] = Counter()
        self.digests: Counter[str] = Counter()
        self.harnesses: Counter[str] = Counter()
        self.kinds: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        self.run_anomalies: list[tuple[Any, Mapping[str, Any]]] = []
        self.workspace: dict[str, dict[str, Any]] = {}  # clone mode: the last entry of each workspace.* kind
        self.preflight: Any = None
        self.preflights = 0
        self.relay = {"requests": 0, "bytes_in": 0, "bytes_out": 0}
        self.egress = {"allowed": 0, "denied": 0, "refused": 0, "closed": 0, "bytes_up": 0, "bytes_down": 0}
        self.egress_hosts: Counter[str] = Counter()
        self.first_ts: str | None = None
        self.last_ts: str | None = None

    def add(self, e: Mapping[str, Any]) -> None:
        kind = str(e.get("kind"))
        self.kinds[kind] += 1
        ts = e.get("ts") if isinstance(e.get("ts"), str) else None
        if self.first_ts is None:
            self.first_ts = ts
        self.last_ts = ts
        body = unverified_body if isinstance(unverified_body := e.get("body"), dict) else {}
        if kind == "gate.decision":
            self._decision(body)
        elif kind == "sandbox.preflight":
            self.preflight = body
            self.preflights += 1
        elif kind == "run.anomaly":
            self.run_anomalies.append((e.get("seq"), body))
        elif kind in ("workspace.mode", "workspace.result", "workspace.land_decision", "workspace.land"):
            self.workspace[kind] = dict(body)
        elif kind == "egress.decision":
            self.egress["allowed" if body.get("decision") == "allow" else "denied"] += 1
            self.egress_hosts[f"{body.get('host')} {body.get('decision')}"] += 1
            if isinstance(body.get("policy_digest"), str):
                self.digests[body["policy_digest"]] += 1  # decided under the policy the run copied, too
        elif kind == "egress.refused":
            self.egress["refused"] += 1
        elif kind == "egress.close":
            self.egress["closed"] += 1
            for k in ("bytes_up", "bytes_down"):
                if type(body.get(k)) is int:
                    self.egress[k] += body[k]
        elif kind == "relay.request":
            self.relay["requests"] += 1
            for k in ("bytes_in", "bytes_out"):
                if type(body.get(k)) is int:
                    self.relay[k] += body[k]

    def _decision(self, body: Mapping[str, Any]) -> None:
        self.gated += 1
        call = unverified_call if isinstance(unverified_call := body.get("call"), dict) else {}
        self.counts[str(body.get("decision"))] += 1
        if body.get("effect") == "require":
            self.counts["require"] += 1
        appr = unverified_appr if isinstance(unverified_appr := body.get("approval"), dict) else None
        if appr is not None:
            outcome = str(appr.get("outcome", "")).lower()
            self.outcomes[outcome] += 1
            if outcome in _APPROVED:
                self.counts["approved"] += 1
            elif outcome in _TIMED_OUT:
                self.counts["timed_out"] += 1
            elif outcome in _DENIED:
                self.counts["approval_denied"] += 1
            else:  # no_approver, approver_unreachable, cancelled, anything new: not approved
                self.counts["approval_unavailable"] += 1
        self.by_tool[str(call.get("tool", "?"))] += 1
        self.by_rule[str(body.get("rule"))] += 1
        if isinstance(body.get("policy_digest"), str):
            self.digests[body["policy_digest"]] += 1
        if call.get("harness"):
            self.harnesses[str(call["harness"])] += 1

    def finish(
        self,
        *,
        run: Mapping[str, Any] | None,
        verify: Mapping[str, Any],
        reconciliation: Reconciliation,
        policy: Mapping[str, Any],
        anomalies: Iterable[Anomaly] = (),
    ) -> tuple[dict[str, Any], list[Anomaly]]:
        """Return (aar dict without status, anomalies found here + those given + the reconciliation's)."""
        run = dict(run or {})
        found: list[Anomaly] = list(anomalies)
        digests = self.digests
        policy_digest_of_copy = policy.get("digest")
        run_digest = run.get("policy_digest")
        head = verify.get("head") or {}
        if head.get("present") and head.get("covered") is False:
            found.append(
                Anomaly(
                    "warn",
                    "entries_after_head",
                    f"{head.get('uncovered_entries')} journal entries after the signed head (entry {head.get('seq')}) "
                    "verify but are not covered by it: their truncation would not be detected",
                )
            )
        for seq, body in self.run_anomalies:
            found.append(
                Anomaly(
                    "warn",
                    "journaled_anomaly",
                    f"entry {seq}: {body.get('what', 'anomaly')}: {str(body.get('error', body))[:300]}",
                    seq=seq,
                )
            )
        if not policy.get("present"):
            found.append(
                Anomaly(
                    "fail",
                    "policy_copy_missing",
                    "the run has no copy of its policy: the rules in force cannot be shown",
                )
            )
        elif policy.get("source") != "agp.policy.load_policy":
            found.append(
                Anomaly(
                    "fail",
                    "policy_copy_unverifiable",
                    f"policy copy: {policy.get('error')}; its digest cannot be compared with the decisions'",
                )
            )
        if policy_digest_of_copy and digests and set(digests) != {policy_digest_of_copy}:
            others = sorted(set(digests) - {policy_digest_of_copy})
            found.append(
                Anomaly(
                    "fail",
                    "policy_digest_mismatch",
                    f"the policy copy digests to {policy_digest_of_copy[:16]}…, but gate decisions were made under "
                    + ", ".join(d[:16] + "…" for d in others),
                )
            )
        if isinstance(run_digest, str) and digests and set(digests) != {run_digest}:
            others = sorted(set(digests) - {run_digest})
            found.append(
                Anomaly(
                    "fail",
                    "policy_digest_mismatch_run",
                    f"run.json says policy {run_digest[:16]}…, but gate decisions were made under "
                    + ", ".join(d[:16] + "…" for d in others),
                )
            )
        if policy_digest_of_copy and isinstance(run_digest, str) and policy_digest_of_copy != run_digest:
            found.append(
                Anomaly(
                    "fail",
                    "policy_copy_mismatch",
                    f"the policy copy in the run digests to {policy_digest_of_copy[:16]}…, run.json says {run_digest[:16]}…",
                )
            )

        passed = _preflight_passed(self.preflight)
        if passed is None:
            passed = _preflight_passed(run.get("preflight"))
        if passed is False and self.gated:
            found.append(
                Anomaly(
                    "fail", "ran_after_failed_preflight", "the egress preflight failed, yet the harness made tool calls"
                )
            )
        elif passed is None:
            found.append(Anomaly("warn", "preflight_missing", "no preflight result in the journal or run.json"))

        started = _parse_time(run.get("started"))
        ended = _parse_time(run.get("ended"))
        src = "run.json"
        if started is None or ended is None:
            started, ended, src = _parse_time(self.first_ts), _parse_time(self.last_ts), "journal first/last entry"
        duration = (ended - started).total_seconds() if started and ended else None

        if run.get("harness") and self.harnesses and set(self.harnesses) != {run["harness"]}:
            found.append(
                Anomaly(
                    "warn",
                    "harness_mismatch",
                    f"run.json says harness {run['harness']!r}, decisions name {sorted(self.harnesses)}",
                )
            )
        c = self.counts
        aar = {
            "format": "agp-aar/1",
            "run": {
                k: run.get(k)
                for k in (
                    "run_id",
                    "task",
                    "intendant",
                    "harness",
                    "harness_version",
                    "image",
                    "image_id",
                    "workspace",
                    "approver",
                    "exit_code",
                    "exit_reason",
                )
            },
            "harness_reported": None,
            "workspace": _workspace_section(self.workspace),
            "policy": {
                "digest": run_digest,
                "digests_in_decisions": dict(digests),
                "copy_digest": policy_digest_of_copy,
                "file": policy.get("path"),
                "rules": policy.get("rules", []),
                "rules_source": policy.get("source"),
                "rules_error": policy.get("error"),
            },
            "timing": {
                "started": started.isoformat() if started else None,
                "ended": ended.isoformat() if ended else None,
                "duration_s": round(duration, 3) if duration is not None else None,
                "source": src,
                "journal_first_ts": self.first_ts,
                "journal_last_ts": self.last_ts,
            },
            "counts": {
                "gated": self.gated,
                "allow": c.get("allow", 0),
                "deny": c.get("deny", 0),
                "require": c.get("require", 0),
                "approved": c.get("approved", 0),
                "approved_automatically": self.outcomes.get("approved_automatically", 0),
                "approval_denied": c.get("approval_denied", 0),
                "timed_out": c.get("timed_out", 0),
                "approval_unavailable": c.get("approval_unavailable", 0),
                "approval_outcomes": dict(sorted(self.outcomes.items())),
                "frames_rejected": self.kinds.get("gate.frame_rejected", 0),
                "approvals_refused": self.kinds.get("approval.refused", 0),
                "by_tool": dict(sorted(self.by_tool.items())),
                "by_rule": dict(sorted(self.by_rule.items())),
            },
            "preflight": {
                "passed": passed,
                "journaled": self.preflight,
                "journaled_count": self.preflights,
                "run_json": run.get("preflight"),
            },
            "relay": {"journaled": dict(self.relay), "run_json": run.get("relay")},
            "egress": {"journaled": dict(self.egress), "by_host": dict(sorted(self.egress_hosts.items())[:200])},
            "journal": {
                "ok": verify.get("ok"),
                "entries": verify.get("entries"),
                "kinds": verify.get("kinds"),
                "kids": verify.get("kids"),
                "head": verify.get("head"),
                "errors": verify.get("errors", [])[:10],
                "notes": verify.get("notes", []),
            },
            "reconciliation": {"ok": reconciliation.ok, **reconciliation.counts()},
        }
        return aar, found + list(reconciliation.anomalies)


def build_aar(*, entries: Iterable[Mapping[str, Any]], **kwargs: Any) -> tuple[dict[str, Any], list[Anomaly]]:
    """:class:`AarCollector` over ``entries``, then :meth:`AarCollector.finish` with ``kwargs``."""
    col = AarCollector()
    for e in entries:
        col.add(e)
    return col.finish(**kwargs)


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, (dict, list)):
        return "`" + json.dumps(v, sort_keys=True)[:200] + "`"
    return str(v)


def _workspace_section(ws: Mapping[str, Mapping[str, Any]]) -> dict[str, Any] | None:
    """Clone mode, from the journal: the changed files, those the host runs without reading them, the landing."""
    mode = (ws.get("workspace.mode") or {}).get("mode")
    res = ws.get("workspace.result")
    if mode is None and res is None:
        return None
    land, decision = ws.get("workspace.land"), ws.get("workspace.land_decision")
    return {
        "mode": mode,
        "patch_sha256": (res or {}).get("patch_sha256"),
        "files": list((res or {}).get("files") or []),
        "files_changed": (res or {}).get("files_changed"),
        "host_run_paths": list((res or {}).get("host_run_paths") or []),
        "refused": list((res or {}).get("refused") or []),
        "landing_decision": {k: decision.get(k) for k in ("effect", "rule", "allowed", "detail")} if decision else None,
        "landed": {k: land.get(k) for k in ("how", "branch", "commit")} if land else None,
    }


def _workspace_md(w: Mapping[str, Any] | None) -> list[str]:
    if not w:
        return []
    lines = ["", "## Workspace", "", f"- mode: {w.get('mode')}"]
    if w.get("mode") != "clone":
        return lines
    if w.get("patch_sha256") is None:
        return lines + ["- **no workspace result was journaled**"]
    flagged = set(w.get("host_run_paths") or [])
    lines.append(f"- {w.get('files_changed')} file(s) changed; patch sha256 `{w.get('patch_sha256')}`")
    d, land = w.get("landing_decision"), w.get("landed")
    if d:
        lines.append(
            f"- landing paths the host runs: {d.get('effect')} (rule {d.get('rule') or 'none'}); "
            f"{'allowed' if d.get('allowed') else 'NOT landed'}: {d.get('detail')}"
        )
    lines.append(f"- landed: {land.get('how')} {land.get('branch') or ''}".rstrip() if land else "- landed: no")
    if w.get("files"):
        lines += ["", "| change | path | size | mode | host runs it |", "|---|---|---|---|---|"]
        for f in w["files"]:
            path = str(f.get("path")).replace("|", "\\|").replace("\n", "\\n")
            mark = "**yes: review before use**" if f.get("path") in flagged else ""
            lines.append(f"| {f.get('status')} | `{path}` | {f.get('size')} | {f.get('mode')} | {mark} |")
    for r in w.get("refused") or []:
        lines.append(f"- not carried back: `{r.get('path')}`: {r.get('what')}")
    return lines


def render_aar_md(aar: Mapping[str, Any]) -> str:
    r, c, p, t = aar["run"], aar["counts"], aar["policy"], aar["timing"]
    status = aar.get("status", "?")
    lines = [
        "# After-action report",
        "",
        f"**Bundle status: {status.upper()}**"
        + (" — " + "; ".join(aar.get("failures", [])) if aar.get("failures") else ""),
        "",
        "## Run",
        "",
        f"- task: {_fmt(r.get('task'))}",
        f"- run id: {_fmt(r.get('run_id'))}",
        f"- harness: {_fmt(r.get('harness'))} {_fmt(r.get('harness_version'))} (intendant {_fmt(r.get('intendant'))})",
        f"- image: {_fmt(r.get('image'))} (id {_fmt(r.get('image_id'))})",
        f"- workspace: {_fmt(r.get('workspace'))}; approver: {_fmt(r.get('approver'))}",
        f"- started {_fmt(t.get('started'))}, ended {_fmt(t.get('ended'))}, duration {_fmt(t.get('duration_s'))} s ({t.get('source')})",
        f"- exit: {_fmt(r.get('exit_code'))} {_fmt(r.get('exit_reason'))}",
        "",
        "## Gate decisions",
        "",
        f"- gated calls: **{c['gated']}** — allow {c['allow']}, deny {c['deny']}",
        f"- require (sent for approval): {c['require']} — approved {c['approved']} (of which automatically, without a human: "
        f"{c['approved_automatically']}), denied by approver {c['approval_denied']}, timed out {c['timed_out']}, "
        f"no approver reachable {c['approval_unavailable']}",
        f"- frames rejected: {c['frames_rejected']}; approval answers refused: {c['approvals_refused']}",
        "- by tool: " + (", ".join(f"{k} {v}" for k, v in c["by_tool"].items()) or "—"),
        "- by rule: " + (", ".join(f"{k} {v}" for k, v in c["by_rule"].items()) or "—"),
        "",
        "## Policy in force",
        "",
        f"- digest (run.json): {_fmt(p.get('digest'))}",
        "- digests recorded in decisions: "
        + (", ".join(f"{k} ({v})" for k, v in p["digests_in_decisions"].items()) or "—"),
        f"- digest of the policy copy: {_fmt(p.get('copy_digest'))}",
    ]
    if p.get("rules_error"):
        lines.append(f"- rules: {p['rules_error']}")
    if p.get("rules_source"):
        lines.append(
            f"- {len(p.get('rules') or [])} rules, read with {p['rules_source']} (aar.json lists each rule's matchers)"
        )
    if p.get("rules"):
        lines += ["", "| rule | effect | description |", "|---|---|---|"]
        for rule in p["rules"]:
            desc = rule.get("description", "").replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {rule['id']} | {rule['effect']} | {desc} |")
    pf = aar["preflight"]
    rl = aar["relay"]
    j = aar["journal"]
    rc = aar["reconciliation"]
    lines += _workspace_md(aar.get("workspace"))
    lines += [
        "",
        "## Sandbox and relay",
        "",
        f"- egress preflight passed: {_fmt(pf.get('passed'))} (journaled: {_fmt(pf.get('journaled'))})",
        f"- model relay (journaled): {rl['journaled']['requests']} requests, {rl['journaled']['bytes_in']} bytes in, {rl['journaled']['bytes_out']} bytes out",
        f"- model relay (run.json): {_fmt(rl.get('run_json'))}",
        *_egress_lines(aar.get("egress")),
        "",
        "## Journal",
        "",
        f"- verifies: {_fmt(j.get('ok'))}; entries {_fmt(j.get('entries'))}; keys {_fmt(j.get('kids'))}",
        "- head: "
        + (
            f"entry {j['head'].get('seq')} signed by {j['head'].get('kid')} at {j['head'].get('ts')}, "
            + (
                "all entries covered"
                if j["head"].get("covered")
                else f"{j['head'].get('uncovered_entries')} entries after it not covered"
            )
            if (j.get("head") or {}).get("present")
            else "missing"
        ),
    ]
    for e in j.get("errors") or []:
        lines.append(f"- error [{e.get('code')}] {e.get('where')}: {e.get('message')}")
    for n in j.get("notes") or []:
        lines.append(f"- note: {n}")
    lines += [
        "",
        "## Reconciliation with the harness's transcript",
        "",
        f"- ok: {rc['ok']}; transcript calls {rc['transcript_calls']}: matched {rc['matched']}, ungated {rc['ungated']}, "
        f"blocked by the hook before the gate decided {rc['blocked']}, refused by the harness before any hook {rc['rejected']}, "
        f"exempt {rc['exempt']}",
        "",
        "## Anomalies",
        "",
    ]
    tail = [
        "",
        "## Verifying this bundle offline",
        "",
        "With your own copy of the journal's public key (do not rely on the one inside the bundle):",
        "",
        "    agp verify BUNDLE_DIR --key agp.pub",
        "",
        f"The journal's key ids: {', '.join(j.get('kids') or []) or '—'}. The manifest is signed by the key in force at "
        "the journal's head; every file's sha256 is in manifest.json; the reconciliation and these counts are "
        "recomputed from the journal and the transcript.",
    ]
    anomalies = aar.get("anomalies", [])
    if not anomalies:
        lines.append("None.")
    for a in anomalies:
        lines.append(f"- **{a['severity'].upper()}** `{a['code']}`: {a['message']}")
    return "\n".join(lines + tail) + "\n"


def _egress_lines(eg: Mapping[str, Any] | None) -> list[str]:
    if not eg:
        return []
    j = eg.get("journaled") or {}
    out = [
        f"- egress door (journaled): {j.get('allowed', 0)} connections allowed, {j.get('denied', 0)} denied, "
        f"{j.get('refused', 0)} refused before a decision; {j.get('bytes_up', 0)} bytes up, "
        f"{j.get('bytes_down', 0)} bytes down"
    ]
    for host, n in (eg.get("by_host") or {}).items():
        out.append(f"  - {host}: {n}")
    return out

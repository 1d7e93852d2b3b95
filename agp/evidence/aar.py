"""The after-action report: what ran, under which rules, what the gate decided, what went wrong.

Built from the verified journal first (signed) and the run's ``run.json`` second
(unsigned metadata written by ``agp run``); where both speak, both are shown and a
disagreement is an anomaly.
"""

from __future__ import annotations

import json
import tomllib
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

from agp.evidence.reconcile import Anomaly, Reconciliation

__all__ = ("build_aar", "policy_rules", "render_aar_md")

_APPROVED = frozenset({"approved", "approve", "allow", "allowed", "auto-approved", "auto_approved"})


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    if isinstance(value, str) and value:
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
    return None


def policy_rules(path: Path) -> dict[str, Any]:
    """The rules in a policy file: ``{rules: [{id, effect, description}], error}`` (best effort, TOML)."""
    if not path.is_file():
        return {"path": path.name, "present": False, "rules": [], "error": "no policy copy in the run"}
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return {"path": path.name, "present": True, "rules": [], "error": f"not readable TOML: {exc}"}
    rules: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                if isinstance(item, dict) and "id" in item and "effect" in item:
                    rules.append({
                        "id": str(item["id"]), "effect": str(item["effect"]),
                        "description": str(item.get("description", "")),
                    })
                else:
                    walk(item)
        elif isinstance(node, dict):
            for key, value in node.items():
                if key != "test":  # policy test cases are not rules
                    walk(value)

    walk(doc)
    return {"path": path.name, "present": True, "rules": rules, "error": None}


def _preflight(entries: list[Mapping[str, Any]], run: Mapping[str, Any]) -> dict[str, Any]:
    journaled = [e.get("body") for e in entries if e.get("kind") == "sandbox.preflight"]
    last = journaled[-1] if journaled else None
    passed = None
    src = last if isinstance(last, dict) else run.get("preflight") if isinstance(run.get("preflight"), dict) else None
    if isinstance(src, dict):
        for key in ("ok", "passed", "pass"):
            if isinstance(src.get(key), bool):
                passed = src[key]
                break
        else:
            result = src.get("result", src.get("status"))
            if isinstance(result, str):
                passed = result.lower() in ("ok", "pass", "passed", "success")
    return {"passed": passed, "journaled": last, "journaled_count": len(journaled), "run_json": run.get("preflight")}


def _relay(entries: list[Mapping[str, Any]], run: Mapping[str, Any]) -> dict[str, Any]:
    reqs = [e.get("body") for e in entries if e.get("kind") == "relay.request"]
    tot = {"requests": len(reqs), "bytes_in": 0, "bytes_out": 0}
    for b in reqs:
        if isinstance(b, dict):
            for k in ("bytes_in", "bytes_out"):
                if isinstance(b.get(k), int):
                    tot[k] += b[k]
    return {"journaled": tot, "run_json": run.get("relay")}


def build_aar(
    *,
    run: Mapping[str, Any] | None,
    entries: list[Mapping[str, Any]],
    verify: Mapping[str, Any],
    reconciliation: Reconciliation,
    policy: Mapping[str, Any],
    policy_digest_of_copy: str | None,
    anomalies: Iterable[Anomaly] = (),
) -> tuple[dict[str, Any], list[Anomaly]]:
    """Return (aar dict without status, anomalies found here + those given + the reconciliation's)."""
    run = dict(run or {})
    found: list[Anomaly] = list(anomalies)
    decisions = [e for e in entries if e.get("kind") == "gate.decision"]
    counts: Counter[str] = Counter()
    by_tool: Counter[str] = Counter()
    by_rule: Counter[str] = Counter()
    digests: Counter[str] = Counter()
    harnesses: Counter[str] = Counter()
    for e in decisions:
        body = e.get("body") if isinstance(e.get("body"), dict) else {}
        call = body.get("call") if isinstance(body.get("call"), dict) else {}
        counts[str(body.get("decision"))] += 1
        if body.get("effect") == "require":
            counts["require"] += 1
        appr = body.get("approval") if isinstance(body.get("approval"), dict) else None
        if appr is not None:
            outcome = str(appr.get("outcome", "")).lower()
            if outcome in _APPROVED:
                counts["approved"] += 1
            elif "time" in outcome:
                counts["timed_out"] += 1
            else:
                counts["approval_denied"] += 1
        by_tool[str(call.get("tool", "?"))] += 1
        by_rule[str(body.get("rule"))] += 1
        if isinstance(body.get("policy_digest"), str):
            digests[body["policy_digest"]] += 1
        if call.get("harness"):
            harnesses[str(call["harness"])] += 1
    kinds = Counter(str(e.get("kind")) for e in entries)

    run_digest = run.get("policy_digest")
    if isinstance(run_digest, str) and digests and set(digests) != {run_digest}:
        others = sorted(set(digests) - {run_digest})
        found.append(Anomaly("fail", "policy_digest_mismatch",
                             f"run.json says policy {run_digest[:16]}…, but gate decisions were made under "
                             + ", ".join(d[:16] + "…" for d in others)))
    if policy_digest_of_copy and isinstance(run_digest, str) and policy_digest_of_copy != run_digest:
        found.append(Anomaly("fail", "policy_copy_mismatch",
                             f"the policy copy in the run digests to {policy_digest_of_copy[:16]}…, run.json says {run_digest[:16]}…"))

    preflight = _preflight(entries, run)
    if preflight["passed"] is False and decisions:
        found.append(Anomaly("fail", "ran_after_failed_preflight",
                             "the egress preflight failed, yet the harness made tool calls"))
    elif preflight["passed"] is None:
        found.append(Anomaly("warn", "preflight_missing", "no preflight result in the journal or run.json"))

    started = _parse_time(run.get("started"))
    ended = _parse_time(run.get("ended"))
    first_ts = entries[0].get("ts") if entries else None
    last_ts = entries[-1].get("ts") if entries else None
    src = "run.json"
    if started is None or ended is None:
        started, ended, src = _parse_time(first_ts), _parse_time(last_ts), "journal first/last entry"
    duration = (ended - started).total_seconds() if started and ended else None

    if run.get("harness") and harnesses and set(harnesses) != {run["harness"]}:
        found.append(Anomaly("warn", "harness_mismatch",
                             f"run.json says harness {run['harness']!r}, decisions name {sorted(harnesses)}"))

    aar = {
        "format": "agp-aar/1",
        "run": {k: run.get(k) for k in (
            "run_id", "task", "intendant", "harness", "harness_version", "image", "image_id", "workspace",
            "approver", "exit_code", "exit_reason")},
        "harness_reported": None,
        "policy": {
            "digest": run_digest,
            "digests_in_decisions": dict(digests),
            "copy_digest": policy_digest_of_copy,
            "file": policy.get("path"),
            "rules": policy.get("rules", []),
            "rules_error": policy.get("error"),
        },
        "timing": {
            "started": started.isoformat() if started else None,
            "ended": ended.isoformat() if ended else None,
            "duration_s": round(duration, 3) if duration is not None else None,
            "source": src,
            "journal_first_ts": first_ts,
            "journal_last_ts": last_ts,
        },
        "counts": {
            "gated": len(decisions),
            "allow": counts.get("allow", 0),
            "deny": counts.get("deny", 0),
            "require": counts.get("require", 0),
            "approved": counts.get("approved", 0),
            "approval_denied": counts.get("approval_denied", 0),
            "timed_out": counts.get("timed_out", 0),
            "frames_rejected": kinds.get("gate.frame_rejected", 0),
            "approvals_refused": kinds.get("approval.refused", 0),
            "by_tool": dict(sorted(by_tool.items())),
            "by_rule": dict(sorted(by_rule.items())),
        },
        "preflight": preflight,
        "relay": _relay(entries, run),
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


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, (dict, list)):
        return "`" + json.dumps(v, sort_keys=True)[:200] + "`"
    return str(v)


def render_aar_md(aar: Mapping[str, Any]) -> str:
    r, c, p, t = aar["run"], aar["counts"], aar["policy"], aar["timing"]
    status = aar.get("status", "?")
    lines = [
        "# After-action report",
        "",
        f"**Bundle status: {status.upper()}**" + (" — " + "; ".join(aar.get("failures", [])) if aar.get("failures") else ""),
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
        f"- require (sent for approval): {c['require']} — approved {c['approved']}, denied by approver {c['approval_denied']}, timed out {c['timed_out']}",
        f"- frames rejected: {c['frames_rejected']}; approval answers refused: {c['approvals_refused']}",
        "- by tool: " + (", ".join(f"{k} {v}" for k, v in c["by_tool"].items()) or "—"),
        "- by rule: " + (", ".join(f"{k} {v}" for k, v in c["by_rule"].items()) or "—"),
        "",
        "## Policy in force",
        "",
        f"- digest (run.json): {_fmt(p.get('digest'))}",
        "- digests recorded in decisions: " + (", ".join(f"{k} ({v})" for k, v in p["digests_in_decisions"].items()) or "—"),
        f"- digest of the policy copy: {_fmt(p.get('copy_digest'))}",
    ]
    if p.get("rules_error"):
        lines.append(f"- rules: {p['rules_error']}")
    if p.get("rules"):
        lines += ["", "| rule | effect | description |", "|---|---|---|"]
        for rule in p["rules"]:
            desc = rule.get("description", "").replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {rule['id']} | {rule['effect']} | {desc} |")
    pf = aar["preflight"]
    rl = aar["relay"]
    j = aar["journal"]
    rc = aar["reconciliation"]
    lines += [
        "",
        "## Sandbox and relay",
        "",
        f"- egress preflight passed: {_fmt(pf.get('passed'))} (journaled: {_fmt(pf.get('journaled'))})",
        f"- model relay (journaled): {rl['journaled']['requests']} requests, {rl['journaled']['bytes_in']} bytes in, {rl['journaled']['bytes_out']} bytes out",
        f"- model relay (run.json): {_fmt(rl.get('run_json'))}",
        "",
        "## Journal",
        "",
        f"- verifies: {_fmt(j.get('ok'))}; entries {_fmt(j.get('entries'))}; keys {_fmt(j.get('kids'))}",
        "- head: " + (
            f"entry {j['head'].get('seq')} signed by {j['head'].get('kid')} at {j['head'].get('ts')}, "
            + ("all entries covered" if j["head"].get("covered") else f"{j['head'].get('uncovered_entries')} entries after it not covered")
            if (j.get("head") or {}).get("present") else "missing"
        ),
    ]
    for e in j.get("errors") or []:
        lines.append(f"- error: line {e.get('line')}, entry {e.get('seq')}: {e.get('reason')}")
    for n in j.get("notes") or []:
        lines.append(f"- note: {n}")
    lines += [
        "",
        "## Reconciliation with the harness's transcript",
        "",
        f"- ok: {rc['ok']}; transcript calls {rc['transcript_calls']}: matched {rc['matched']}, ungated {rc['ungated']}, exempt {rc['exempt']}",
        "",
        "## Anomalies",
        "",
    ]
    anomalies = aar.get("anomalies", [])
    if not anomalies:
        lines.append("None.")
    for a in anomalies:
        lines.append(f"- **{a['severity'].upper()}** `{a['code']}`: {a['message']}")
    return "\n".join(lines) + "\n"

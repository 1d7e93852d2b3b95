"""agp.policy: a deterministic, default-deny decision on every tool call.

::

    call = ToolCall(harness="claude-code", tool="Bash", input={"command": "ls"},
                    cwd="/ws", workspace="/ws", session="s1")
    policy = load_policy("policies/default.toml")        # or a list of files: tiers
    decision = evaluate(call, policy, now=datetime.now(timezone.utc))
    decision.effect   # 'allow' | 'deny' | 'require'

``classify(call)`` splits a call into statements (shell commands, redirections, SQL
statements, files, URLs, MCP tools); ``evaluate_classified`` decides them without I/O.
The language is described in adr/0003-policy-language.md.
"""

from agp.policy.attest import attestation, normalized_policy, policy_digest
from agp.policy.call import ClassifiedCall, ClassifiedStatement, PathFact, ToolCall
from agp.policy.classify.tools import classify
from agp.policy.engine import Decision, Policy, StatementDecision, evaluate, evaluate_classified, load_policy
from agp.policy.model import PolicyFile, Rule, TestCase

__all__ = (
    "ClassifiedCall",
    "ClassifiedStatement",
    "Decision",
    "PathFact",
    "Policy",
    "PolicyFile",
    "Rule",
    "StatementDecision",
    "TestCase",
    "ToolCall",
    "attestation",
    "classify",
    "evaluate",
    "evaluate_classified",
    "load_policy",
    "normalized_policy",
    "policy_digest",
)

"""docs/slack-app-manifest.yaml matches what the Slack approver needs."""

from pathlib import Path

from agp.approvers.slack import SlackApprover

DOCS = Path(__file__).resolve().parents[3] / "docs"


def test_manifest_grants_what_the_approver_calls_and_points_at_its_path():
    text = (DOCS / "slack-app-manifest.yaml").read_text()
    for scope in ("chat:write", "users:read"):  # chat.postMessage/chat.update, users.info
        assert f"- {scope}" in text
    assert "is_enabled: true" in text and "socket_mode_enabled: false" in text
    default_path = SlackApprover.__init__.__kwdefaults__["path"]
    assert f"/{default_path.strip('/')}" in text
    guide = (DOCS / "slack.md").read_text()
    assert "SLACK_SIGNING_SECRET" in guide and "SLACK_BOT_TOKEN" in guide and default_path in guide

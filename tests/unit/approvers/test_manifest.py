"""docs/slack-app-manifest*.yaml and docs/slack.md match what the Slack approvers need."""

from pathlib import Path

from agp.approvers.slack import SlackApprover

DOCS = Path(__file__).resolve().parents[3] / "docs"


def test_socket_mode_manifest_grants_what_the_approver_calls():
    text = (DOCS / "slack-app-manifest.yaml").read_text()
    for scope in ("chat:write", "users:read"):  # chat.postMessage/chat.update, users.info
        assert f"- {scope}" in text
    assert "is_enabled: true" in text and "socket_mode_enabled: true" in text and "request_url" not in text
    assert "connections:write" in text  # the app-level token's scope, named for the reader


def test_http_manifest_points_at_the_endpoint_path():
    text = (DOCS / "slack-app-manifest-http.yaml").read_text()
    for scope in ("chat:write", "users:read"):
        assert f"- {scope}" in text
    assert "is_enabled: true" in text and "socket_mode_enabled: false" in text
    default_path = SlackApprover.__init__.__kwdefaults__["path"]
    assert f"/{default_path.strip('/')}" in text


def test_guide_names_every_variable_the_approvers_read():
    guide = (DOCS / "slack.md").read_text()
    for var in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "AGP_SLACK_CHANNEL", "AGP_SLACK_MODE",
                "AGP_SLACK_APPROVERS", "AGP_SLACK_APPROVERS_<GROUP>", "AGP_SLACK_PORT", "--approval-timeout",
                "--slack-channel", "connections:write"):
        assert var in guide, var
    assert SlackApprover.__init__.__kwdefaults__["path"] in guide

"""The gate: the host-side decision server every tool call passes through.

Public surface::

    GateServer(socket_dir=..., policy=..., journal=..., approvers=[...])   await serve(); shutdown()
    GateDecision (one call's outcome, as journaled)      JournalSink (what the gate needs of a journal)
    parse_request(bytes) -> CheckRequest      Verdict      FrameDecoder      request_verdict(path, req)
    SessionTable(max_sessions=, rate=, window=)      ApprovalBroker / Answer / Outcome
"""

from agp.gate.approvals import (
    Answer,
    AnswerCode,
    AnswerResult,
    ApprovalBroker,
    ApprovalRequest,
    ApprovalResult,
    Approver,
    GateEvent,
    NoApprover,
    Outcome,
    UnsafeAutoApprover,
)
from agp.gate.decision import GateDecision, JournaledEntry, JournalSink
from agp.gate.protocol import (
    MAX_FRAME,
    CheckRequest,
    FrameCode,
    FrameDecoder,
    FrameRejected,
    Verdict,
    call_digest,
    encode_frame,
    parse_request,
    request_verdict,
)
from agp.gate.server import SOCKET_NAME, GateServer, live_view_sink, prepare_socket_dir
from agp.gate.sessions import Refusal, RefusalReason, SessionRefused, SessionTable

__all__ = (
    "MAX_FRAME",
    "SOCKET_NAME",
    "Answer",
    "AnswerCode",
    "AnswerResult",
    "ApprovalBroker",
    "ApprovalRequest",
    "ApprovalResult",
    "Approver",
    "CheckRequest",
    "FrameCode",
    "FrameDecoder",
    "FrameRejected",
    "GateDecision",
    "GateEvent",
    "GateServer",
    "JournalSink",
    "JournaledEntry",
    "NoApprover",
    "Outcome",
    "Refusal",
    "RefusalReason",
    "SessionRefused",
    "SessionTable",
    "UnsafeAutoApprover",
    "Verdict",
    "call_digest",
    "encode_frame",
    "live_view_sink",
    "parse_request",
    "prepare_socket_dir",
    "request_verdict",
)

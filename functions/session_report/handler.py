"""Conversations stream (a session closed): its report, and the conversation's recap as a memory."""

from luma import wiring
from luma.config import get_settings
from luma.sessions import report_closed_session
from luma.streams import Change, stream_consumer


def on_session_closed(change: Change) -> None:
    """Write the closed session's report (when the close did not) and its recap."""
    image = change.new_image or {}
    if image.get("kind") != "session" or image.get("status") != "closed":
        return
    summarize = None
    if get_settings().opensearch_url:
        from luma.memory.consumers import summarize_closed_session

        summarize = summarize_closed_session
    report_closed_session(
        wiring.conversations(), str(image["tenant_id"]), str(image["session_id"]), summarize=summarize
    )


handler = stream_consumer(on_session_closed)

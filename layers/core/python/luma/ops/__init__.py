"""Operations: what Lambda's event-source mappings do for us in AWS (filters, record shapes), and the DLQ tool.

Nothing here runs on a request path; the local stack's stream poller and ``luma dlq`` use it.
"""

"""Erasure of one user's data: ``DELETE /api/me`` (the ``erasure`` function) and ``luma forget``.

A job (:mod:`luma.erasure.jobs`) is run by the executor (:mod:`luma.erasure.executor`), which reaches every
item by keys derived from the tenant and the user (:mod:`luma.erasure.keys`). Every personal item kind, and
what removes it:

=====================================  ============================================  ============  =============
item                                   key                                           TTL           erased by
=====================================  ============================================  ============  =============
session (``META``)                     conv ``T#t#S#<sid>`` / ``META``, GSI by_user  retention     sessions step
message (``M#``), approval card        conv session partition ``M#<ulid>``           retention     sessions step
routing decision                       conv session partition ``R#<ulid>``           retention     sessions step
session report                         conv session partition ``REPORT``             retention     sessions step
idle-index entry                       conv session partition ``IDLE``               retention     sessions step
escalation                             conv session partition ``ESC#<ulid>``         retention     sessions step
operator takeover (user's address)     conv session partition ``TAKEOVER``           retention     sessions step
operators' inbox notice and marker     conv ``T#t#OPS`` / ``NE#<esc>``, ``N#…``      notice TTL    sessions step
MCP session and its audit messages     conv ``T#t#S#MCP…`` (a session like others)   retention     sessions step
image of a WhatsApp/SMS message        S3 ``<t>/<y>/<m>/<d>/<sid>-<n>.<ext>``        bucket rule   sessions step
channel pointer                        conv ``T#t#PH#<e164>`` / ``CHANNEL#<ch>``     retention     phones step
phone link                             conn ``T#t#PH#<e164>``                        none          phones step
connection (an operator's too)         conn ``T#t#C#<id>``, GSI by_user or ``OPS``   3 h           connections
idempotency record, media claim        usage ``T#t#U#<u>#IDEM#<cmid>`` / ``IDEM``    24 h / 30 d   sessions+usage
image of a claim never recorded        S3 (key in the claim's ``work``)              bucket rule   usage step
approval task token                    usage ``T#t#APPROVAL#<id>`` / ``APPROVAL``    timeout+1 h   sessions step
rate-limit bucket (user)               usage ``T#t#RL#U#<u>`` / ``BUCKET``           minutes       usage step
daily credit balance, reservations     usage ``T#t#Q#<u>#<day>`` / ``QUOTA``, RES#   3 d           usage step
identity attempts (user)               usage ``T#t#IDA#U#<u>`` / ``ATTEMPTS``        lockout       usage step
memory item, "last time" pointer       conv ``T#t#U#<u>#MEM``, ``MEM#…``/``LAST#…``  365 d         memory step
search-index document                  OpenSearch ``tenant_id`` + ``user_id`` terms  none          index step
assistant pack's own records           pack tables                                   pack's        pack hook
erasure job (no user id in clear)      usage ``T#t#ERASURE#<digest>`` / ``JOB#…``    30 d          (the receipt)
=====================================  ============================================  ============  =============

Not erased, by design: rate-limit buckets per source IP (``T#t#RL#IP#<ip>``, minutes of TTL, shared by
everyone behind the address); identity attempts per claimed identity (``T#t#IDA#C#<sha256 of the claim>``:
keyed by what was claimed, possibly someone else's identity, never by the user; TTL of the lockout window;
erasing them would let a guesser reset a lockout by erasing their own account); unknown senders' shared
reply buckets (``T#t#RL#UNK#…``, no user); operators' audit entries (``T#t#OPAUDIT``, ids only, their own
TTL: the record of what staff did); per-tenant hourly metrics (``T#t#MET#<hour>``, counters, no user).
"""

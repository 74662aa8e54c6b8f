"""``luma memory reindex``: rebuild the search index from the memory items in DynamoDB."""

from __future__ import annotations

import argparse
import sys

from luma.memory.wiring import get_memory_service


def main(argv: list[str] | None = None) -> int:
    """``luma memory reindex [--tenant T [--user U]]``: one user's memory, a tenant's, or everyone's."""
    parser = argparse.ArgumentParser(prog="luma memory", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    reindex = sub.add_parser("reindex", help="rebuild index entries from the memory items")
    reindex.add_argument("--tenant", help="only this tenant's users")
    reindex.add_argument("--user", help="only this user (with --tenant)")
    args = parser.parse_args(argv)
    if args.user and not args.tenant:
        parser.error("--user needs --tenant")
    service = get_memory_service()
    service.store.ensure_ready()
    if args.user:
        pairs = [(args.tenant, args.user)]
    else:  # a paginated Scan of the memory items
        pairs = [p for p in service.repo.iter_users() if args.tenant in (None, p[0])]
    total = 0
    for tenant_id, user_id in pairs:
        count = service.reindex_user(tenant_id, user_id)
        total += count
        print(f"reindexed {count} memory items of one user of tenant {tenant_id}", file=sys.stderr, flush=True)
    service.store.refresh()
    print(f"memory reindex: {total} items, {len(pairs)} users")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

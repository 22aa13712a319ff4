"""A support agent that refunds only what a human approved.

    ESCALADE_URL=http://127.0.0.1:8080 ESCALADE_TOKEN=<ingest token> \\
        python examples/agent.py o-1043 900

Exits 0 after refunding (the amount a reviewer approved, perhaps edited), 1 when
the refund was denied, timed out to a deny, or Escalade could not be reached.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from escalade.sdk import EscaladeClient, ReviewDenied


def refund_tool(client: EscaladeClient) -> Callable[[str, int], str]:
    """The agent's refund tool, guarded: it runs only once a reviewer approves."""

    @client.require_approval(action="issue_refund", risk=0.7, subject={"system": "support-agent"})
    def issue_refund(order: str, amount: int) -> str:
        # The payment provider's call goes here; it gets the approved arguments.
        return f"refunded {amount} on order {order}"

    return issue_refund


def main(argv: list[str]) -> int:
    order, amount = argv[0], int(argv[1])
    with EscaladeClient() as client:  # ESCALADE_URL and ESCALADE_TOKEN from the environment
        issue_refund = refund_tool(client)
        try:
            print(issue_refund(order, amount))
        except ReviewDenied as denied:  # ReviewHalted too: tell the customer, do not refund
            print(f"not refunded: {denied}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

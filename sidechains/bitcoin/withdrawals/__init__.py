"""Bitcoin withdrawals (DESIGN.md, "Withdrawal (BTC)"; docs/withdrawals.md), one module a step:

    requests    a user's request: the rules (quote), the escrow, failing and holding one
    fees        the fee rate from the node, the fee shown before a request
    builder     batching requested withdrawals into one unsigned transaction over coins
    signatures  the signing request the SONs fetch, and checking and storing their answers
    tracker     finishing and sending a signed transaction, rebroadcast, fee bumps, failure
    settlement  a confirmed transaction: coins spent, change kept, escrow burned

    Withdrawal:  requested --batch--> batched --broadcast--> broadcast --confirmed--> settled
                 requested --batch: its address is refused now--> held (escrow kept)
                 requested/held --withdrawal_fail--> failed (escrow returned)
                 batched/broadcast --an input can never be spent by it--> failed (escrow returned)
    Transaction: awaiting_signatures --m signatures per input, sent--> broadcast --> confirmed
                 awaiting_signatures/broadcast --an input lost (reclaimed, spent)--> failed

The escrow moves with the request in one transaction; a batch (transaction, inputs, reserved
coins, batched withdrawals) commits as one before any signer can fetch it; the finished
transaction is stored before it is sent, so a restart sends the same bytes again.
"""

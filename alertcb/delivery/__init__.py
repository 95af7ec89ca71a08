"""Delivery: the dispatcher thread, one lane per destination, grouping, the outbox and run dir.

Internal: nothing here is re-exported by `alertcb`; the public entry point is `alertcb.Notifier`.
"""

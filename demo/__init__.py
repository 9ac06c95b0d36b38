"""The demo of `make run`: a fictional city, 滨江市, with billers, outlets, customers, bills and payments.

It sits above every app (tests/test_layers.py): it imports what it needs from them, and none of them
imports it. Its commands (`seed_demo`, `demo_logins`, `api_sandbox`) refuse to run with DEBUG off.

- `demo.data`: names, places, the billers, outlets and users of the region, the shapes of the plan;
- `demo.plan`: the plan of accounts, bills and payments, pure data, built without the database;
- `demo.seed`: writing it, through the services, with each app's part in `demo.branches`,
  `demo.payers`, `demo.reconciliation` and `demo.api`.

Everything is derived from a fixed seed, per biller and per account, so a second run builds the very same
plan and finds it already in the database: accounts and bills are inserted only where missing, and
payments go through `post_payment` with stable idempotency keys, so the ledger replays instead of
duplicating. Money moves only through the service, never by writing `amount_paid`.

The dates are anchored on the day the demo was first seeded (the water company's creation date), not on
today, so that a re-run weeks later still builds the same plan. Delete the database to refresh them.
"""

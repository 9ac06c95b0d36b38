"""`manage.py api_sandbox`: the demo's partner and biller API keys, to try the APIs against `make run`.
Refuses to run with DEBUG off."""

from demo import api as api_demo
from demo.management.base import DemoCommand


class Command(DemoCommand):
    help = "Print the sandbox partner's and the demo biller's API key ids and secrets."

    def handle(self, *args, **options):
        rows = api_demo.sandbox_credentials()
        if not rows:
            self.stdout.write("No demo API keys: run `manage.py seed_demo` first.")
            return
        lines = ["", "  Open APIs (docs/partner-api.md; schema at /api/docs/):"]
        for who, key_id, secret in rows:
            lines.append(f"  {who:<12}key id {key_id}  secret {secret}")
        lines.append(
            "  Try: .venv/bin/python docs/examples/partner_client.py --key-id <key id> --secret <secret> "
            "--biller BJ-WATER --account <户号>"
        )
        lines.append("")
        self.stdout.write("\n".join(lines))

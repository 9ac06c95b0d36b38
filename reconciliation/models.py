"""Channel statements, matching and settlement arrive with the reconciliation issue."""

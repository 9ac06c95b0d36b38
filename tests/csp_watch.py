"""Collect Content-Security-Policy violations in a Playwright page: Chromium's console reports ("Refused to
... because it violates the following Content Security Policy directive") and the page's own
`securitypolicyviolation` events, which an init script forwards to the console on every page load."""

REPORTER = """
document.addEventListener("securitypolicyviolation", function (e) {
  console.error("securitypolicyviolation: " + e.violatedDirective + " " + (e.blockedURI || "inline")
                + " at " + e.sourceFile + ":" + e.lineNumber);
});
"""


def watch_csp(page) -> list[str]:
    """Start watching `page`; the returned list fills with one entry per violation, with the page's URL."""
    violations: list[str] = []

    def on_console(message):
        text = message.text
        if "Content Security Policy" in text or text.startswith("securitypolicyviolation"):
            violations.append(f"{page.url}: {text}")

    page.add_init_script(REPORTER)
    page.on("console", on_console)
    return violations

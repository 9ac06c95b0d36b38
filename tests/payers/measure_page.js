// What a page breaks, measured in the page (tests/payers/test_page_sizes_browser.py): one line per problem,
// at most a few per kind. The argument says whether large-text mode is on.
(large) => {
  const problems = [];
  const note = (kind, text) => { if (problems.filter(p => p.startsWith(kind)).length < 4) problems.push(kind + ": " + text); };
  const seen = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const style = getComputedStyle(e);
      if (style.display === "none" || style.visibility === "hidden" || e.getAttribute("aria-hidden") === "true") return false;
    }
    const box = el.getBoundingClientRect();
    return box.width > 1 && box.height > 1;
  };
  const describe = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\s+/).join(".") : "");
  const width = document.documentElement.scrollWidth;
  if (width > window.innerWidth) {
    const wide = [...document.body.querySelectorAll("*")].filter(e => seen(e) && e.getBoundingClientRect().right > window.innerWidth + 1);
    note("overflow", `page is ${width}px wide on a ${window.innerWidth}px screen: ` + wide.slice(-3).map(describe).join(", "));
  }
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const text = node.textContent.trim();
    const el = node.parentElement;
    if (!text || !el || el.closest("select, script, style, noscript, svg") || !seen(el)) continue;
    const style = getComputedStyle(el);
    const size = parseFloat(style.fontSize);
    if (large && size < 18) note("text", `${size}px "${text.slice(0, 30)}" in ${describe(el)}`);
    if (!large && size < 12) note("text", `${size}px "${text.slice(0, 30)}" in ${describe(el)}`);
    const height = style.lineHeight === "normal" ? 1.2 : parseFloat(style.lineHeight) / size;
    if (large && height < 1.3) note("line-height", `${height.toFixed(2)} for "${text.slice(0, 30)}" in ${describe(el)}`);
  }
  const controls = "a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]:not([tabindex='-1'])";
  for (const el of document.querySelectorAll(controls)) {
    if (!seen(el) || el.classList.contains("skip-link")) continue;
    const box = el.getBoundingClientRect();
    const least = large ? 44 : el.matches("input, select, button, textarea") ? 24 : 0;
    if (box.width < least - 0.5 || box.height < least - 0.5)
      note("target", `${describe(el)} "${(el.innerText || el.value || "").trim().slice(0, 20)}" is ${box.width.toFixed(0)}×${box.height.toFixed(0)}px`);
  }
  // A value (receipt number, amount, account) must not be split between two lines in the middle of a word.
  for (const dd of document.querySelectorAll(".facts dd, dl dd")) {
    if (!seen(dd)) continue;
    const text = dd.textContent;
    for (const match of text.matchAll(/[A-Za-z0-9¥.,:\-]{2,}/g)) {
      const textNode = [...dd.childNodes].find(n => n.nodeType === 3 && n.textContent.includes(match[0]));
      if (!textNode) continue;
      const range = document.createRange();
      const start = textNode.textContent.indexOf(match[0]);
      range.setStart(textNode, start);
      range.setEnd(textNode, start + match[0].length);
      const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
      if (tops.size > 1) note("broken", `"${match[0]}" is split over ${tops.size} lines in ${describe(dd)}`);
    }
  }
  return problems;
}

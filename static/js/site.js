// Behaviour shared by every page, kept out of the HTML so the Content-Security-Policy needs no inline script.
// A button with data-action="print" prints the page.
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-action=print]");
  if (button) { window.print(); }
});

// The counter's payment form: total of the ticked bills, change due, Esc back to the counter, one submit only.
(function () {
  var form = document.getElementById("pay-form"), amount = document.getElementById("id_amount"),
      tendered = document.getElementById("id_tendered"), change = document.getElementById("change-due");
  function fen(text) { var m = /^\s*(\d+)(?:\.(\d{1,2}))?\s*$/.exec(text || ""); return m ? parseInt(m[1], 10) * 100 + parseInt(((m[2] || "") + "00").slice(0, 2), 10) : null; }
  function yuan(f) { return (f < 0 ? "-" : "") + Math.floor(Math.abs(f) / 100) + "." + ("0" + Math.abs(f) % 100).slice(-2); }
  function recompute() {
    var total = 0;
    if (form.dataset.topup) {  // a top-up: the clerk types the amount the citizen chose
      total = fen(amount.value) || 0;
    } else {
      form.querySelectorAll("input[name=period]:checked").forEach(function (box) { total += fen(box.dataset.amount); });
      amount.value = yuan(total);
    }
    var t = fen(tendered.value);
    change.textContent = t === null ? "¥0.00" : "¥" + yuan(t - total);
  }
  form.addEventListener("change", recompute); tendered.addEventListener("input", recompute); amount.addEventListener("input", recompute);
  document.addEventListener("keydown", function (e) { if (e.key === "Escape") { window.location = form.dataset.homeUrl; } });
  // A double click or a second Enter sends nothing more; the server would answer it with the first payment anyway.
  form.addEventListener("submit", function (e) {
    if (form.dataset.sent) { e.preventDefault(); return; }
    form.dataset.sent = "1"; document.getElementById("take-cash").disabled = true;
  });
  recompute();
})();

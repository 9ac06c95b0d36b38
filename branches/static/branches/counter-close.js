// Closing the till: what the counted denominations add up to, and the difference from what is expected.
(function () {
  var expected = Math.round(parseFloat(document.getElementById("expected").dataset.fen) * 100);
  function yuan(f) { return (f < 0 ? "-" : "") + "¥" + Math.floor(Math.abs(f) / 100) + "." + ("0" + Math.abs(f) % 100).slice(-2); }
  function recompute() {
    var total = 0;
    document.querySelectorAll("input.count").forEach(function (i) { total += (parseInt(i.value, 10) || 0) * parseInt(i.dataset.fen, 10); });
    document.getElementById("counted").textContent = yuan(total);
    document.getElementById("variance").textContent = yuan(total - expected);
  }
  document.getElementById("close-form").addEventListener("input", recompute); recompute();
})();

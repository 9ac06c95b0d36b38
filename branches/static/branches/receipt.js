// The receipt's keys: P prints, Enter goes to the next customer (the #next link).
document.addEventListener("keydown", function (e) {
  if (e.key === "p" || e.key === "P") { window.print(); }
  if (e.key === "Enter") { e.preventDefault(); window.location = document.getElementById("next").href; }
});

// The outlet finder's "Nearest to me": fill in the browser's position and search.
document.getElementById("near-me").addEventListener("click", function () {
  if (!navigator.geolocation) { return; }
  navigator.geolocation.getCurrentPosition(function (p) {
    document.getElementById("id_lat").value = p.coords.latitude.toFixed(6);
    document.getElementById("id_lng").value = p.coords.longitude.toFixed(6);
    document.getElementById("id_district").value = "";
    document.getElementById("finder").submit();
  });
});

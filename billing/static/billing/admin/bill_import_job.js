// The bill import's progress page polls its job's status (data-status-url) until the job has finished.
(function () {
  var box = document.getElementById("bill-import-job");
  function poll() {
    fetch(box.dataset.statusUrl, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (job) {
      document.getElementById("job-progress").value = job.percent;
      document.getElementById("job-percent").textContent = job.percent + "%";
      document.getElementById("job-status").textContent = job.status_display;
      document.getElementById("job-rows").textContent = job.rows_done + " / " + job.rows_total;
      document.getElementById("job-message").textContent = job.message;
      if (job.error_count) {
        document.getElementById("job-errors").hidden = false;
        document.getElementById("job-error-count").textContent = job.error_count;
      }
      if (!job.finished) { setTimeout(poll, 1000); } else if (job.summary && job.summary.rows !== undefined) {
        document.getElementById("job-summary").textContent = JSON.stringify(job.summary);
      }
    });
  }
  if (box.dataset.finished !== "1") { setTimeout(poll, 500); }
})();

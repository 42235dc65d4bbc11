// Polls the job's state while it runs; reloads once it is finished, so the server renders
// the result (the page works without this script too: reload by hand).
(function () {
  "use strict";
  var job = document.getElementById("job");
  if (!job || (job.dataset.status !== "queued" && job.dataset.status !== "running")) return;
  var stage = document.getElementById("stage");
  var bar = document.getElementById("progress");
  function poll() {
    fetch(job.dataset.stateUrl, {cache: "no-store"})
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (s) {
        if (s.status === "done" || s.status === "failed") { window.location.reload(); return; }
        stage.textContent = s.stage;
        if (s.fraction === null) bar.removeAttribute("value"); else bar.value = s.fraction;
        setTimeout(poll, 500);
      })
      .catch(function (e) { stage.textContent = "lost contact with the server (" + e.message + "); retrying"; setTimeout(poll, 2000); });
  }
  poll();
})();

// Optional: filter by incident verdict AND source status. Without JavaScript everything shows.
document.getElementById("filters").addEventListener("change", function () {
  function checked(name) {
    return Array.from(document.querySelectorAll("#filters input[name=" + name + "]:checked")).map(function (i) { return i.value; });
  }
  var verdicts = checked("verdict"), statuses = checked("status");
  document.querySelectorAll(".incident").forEach(function (el) {
    var own = el.dataset.statuses.split(" ").filter(Boolean);
    var statusOk = own.length === 0 || own.some(function (s) { return statuses.indexOf(s) >= 0; });
    el.style.display = verdicts.indexOf(el.dataset.verdict) >= 0 && statusOk ? "" : "none";
    el.querySelectorAll(".citation").forEach(function (c) {
      c.style.display = statuses.indexOf(c.dataset.status) >= 0 ? "" : "none";
    });
  });
  document.querySelectorAll("#sources tr[data-status]").forEach(function (row) {
    row.style.display = statuses.indexOf(row.dataset.status) >= 0 ? "" : "none";
  });
});

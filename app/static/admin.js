/* Setroom admin pages: copy a join link (or the links CSV) and download the CSV. No inline
   script: buttons name their target with data-copy / data-download. */
(function () {
  "use strict";

  function copyFrom(field, button) {
    var text = field.value;
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallback(field, done); });
    } else {
      fallback(field, done);
    }
  }

  function fallback(field, done) {
    field.focus();
    field.select();
    try {
      if (document.execCommand("copy")) { done(); }
    } catch (err) {
      /* Selected: the person can copy it themselves. */
    }
  }

  function download(field, name) {
    var blob = new Blob([field.value], { type: "text/csv;charset=utf-8" });
    var url = URL.createObjectURL(blob);
    var a = document.createElement("a");
    a.href = url;
    a.download = name || "links.csv";
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
  }

  function start() {
    document.querySelectorAll("[data-download]").forEach(function (b) { b.hidden = false; });
    document.addEventListener("click", function (evt) {
      var button = evt.target.closest("[data-copy], [data-download]");
      if (!button) { return; }
      var id = button.getAttribute("data-copy") || button.getAttribute("data-download");
      var field = document.getElementById(id);
      if (!field) { return; }
      if (button.hasAttribute("data-copy")) {
        copyFrom(field, button);
      } else {
        download(field, button.getAttribute("data-filename"));
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";

  // Pre-select the browser's time zone where a form still shows the default.
  function detectTimezone(root) {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    root.querySelectorAll("select[data-detect-timezone]").forEach(function (select) {
      if (select.value === "UTC" && zone && select.querySelector('option[value="' + zone + '"]')) {
        select.value = zone;
      }
    });
  }

  // On sign-up, show only the fields of the chosen account type.
  function toggleAccountFields(root) {
    var checked = root.querySelector('#account-type input:checked');
    if (!checked) { return; }
    root.querySelectorAll("[data-account]").forEach(function (block) {
      block.hidden = block.getAttribute("data-account") !== checked.value;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    detectTimezone(document);
    toggleAccountFields(document);
    document.addEventListener("change", function (event) {
      if (event.target.closest && event.target.closest("#account-type")) {
        toggleAccountFields(document);
      }
    });
  });
})();

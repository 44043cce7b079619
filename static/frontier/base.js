/* Every page: behaviour that would otherwise be an inline handler (the Content-Security-Policy allows
   only the site's own script files). A form with data-confirm asks before it is sent. */
(function () {
  "use strict";
  document.addEventListener("submit", function (ev) {
    const form = ev.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      ev.preventDefault();
      ev.stopImmediatePropagation();
    }
  }, true);
})();

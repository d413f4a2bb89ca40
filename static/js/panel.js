// The panel's few behaviours that htmx does not give: copy buttons, closing an inline
// confirmation, showing error answers inline or as a toast, the notes save status and the
// port test's "Testing…".
(function () {
  "use strict";

  var INLINE_ERROR_HEADER = "X-Panel-Inline-Error";
  var toastTimer = null;

  function showToast(text) {
    var toast = document.getElementById("toast");
    if (!toast) return;
    toast.textContent = text;
    toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { toast.hidden = true; }, 6000);
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      try {
        if (document.execCommand("copy")) resolve(); else reject(new Error("copy refused"));
      } catch (err) {
        reject(err);
      } finally {
        area.remove();
      }
    });
  }

  function flashButton(button, text) {
    if (!button.dataset.label) button.dataset.label = button.textContent;
    button.textContent = text;
    button.classList.add("is-done");
    clearTimeout(button._panelTimer);
    button._panelTimer = setTimeout(function () {
      button.textContent = button.dataset.label;
      button.classList.remove("is-done");
    }, 1600);
  }

  document.addEventListener("click", function (evt) {
    var copy = evt.target.closest("[data-copy]");
    if (copy) {
      copyText(copy.dataset.copy).then(
        function () { flashButton(copy, "Copied"); },
        function () { showToast("Could not copy. Select the text and copy it by hand."); }
      );
      return;
    }
    var closer = evt.target.closest("[data-close-details]");
    if (closer) {
      var details = closer.closest("details");
      if (details) {
        details.open = false;
        details.querySelector("summary").focus();
      }
    }
  });

  // Escape closes an open inline confirmation and gives focus back to its button.
  document.addEventListener("keydown", function (evt) {
    if (evt.key !== "Escape") return;
    var details = evt.target.closest && evt.target.closest("details[open]");
    if (details) {
      details.open = false;
      details.querySelector("summary").focus();
    }
  });

  // --- notes: the status beside each field -----------------------------------------------
  function notesStatus(elt) {
    var form = elt && elt.closest && elt.closest(".notes-form");
    return form ? form.querySelector(".notes-status") : null;
  }

  function setStatus(status, kind, html) {
    status.innerHTML = '<span class="status status-' + kind + '">' + html + "</span>";
  }

  document.addEventListener("input", function (evt) {
    var status = evt.target.classList && evt.target.classList.contains("notes-input")
      ? notesStatus(evt.target) : null;
    if (status) setStatus(status, "pending", "Not saved yet");
  });

  document.addEventListener("htmx:beforeRequest", function (evt) {
    var status = notesStatus(evt.detail.elt);
    if (status) setStatus(status, "pending", "Saving…");
    var result = testResult(evt.detail.elt);
    if (result) showTestResult(result, "pending", "Testing…");
  });

  // --- port test: the answer beside the button ----------------------------------------------
  function testResult(elt) {
    var form = elt && elt.closest && elt.closest(".test-form");
    var box = form && form.closest(".alloc-test");
    return box ? box.querySelector(".test-result") : null;
  }

  function showTestResult(result, kind, text) {
    result.innerHTML = "";
    var span = document.createElement("span");
    span.className = "test-outcome test-" + kind;
    span.textContent = text;
    result.appendChild(span);
  }

  // A background refresh that fails says nothing: the next one will try again.
  function isBackground(elt) {
    return !!(elt && elt.hasAttribute && elt.hasAttribute("data-background"));
  }

  // "Saved" means saved: if more was typed while the save was on its way, say so.
  document.addEventListener("htmx:afterSwap", function (evt) {
    var saved = evt.detail.target && evt.detail.target.querySelector
      ? evt.detail.target.querySelector(".status-ok[data-saved]") : null;
    var form = saved && saved.closest(".notes-form");
    var input = form && form.querySelector(".notes-input");
    if (!input) return;
    if (input.value.trim() !== saved.dataset.saved) {
      setStatus(notesStatus(input), "pending", "Not saved yet");
    } else {
      input.defaultValue = input.value;  // what the server holds now
    }
  });

  // Text typed before htmx took charge of a field (a slow page load, a row just added)
  // fired no save: save it now rather than when the field is left.
  document.addEventListener("htmx:load", function (evt) {
    var root = evt.detail.elt;
    if (!root || !root.querySelectorAll) return;
    root.querySelectorAll(".notes-input").forEach(function (input) {
      if (input.value !== input.defaultValue) htmx.trigger(input, "change");
    });
  });

  // Leaving the page with a note that did not save would lose it: ask first.
  window.addEventListener("beforeunload", function (evt) {
    if (document.querySelector(".notes-status .status-error, .notes-status .status-pending")) {
      evt.preventDefault();
      evt.returnValue = "";
    }
  });

  // --- error answers -----------------------------------------------------------------------
  function messageFor(xhr) {
    switch (xhr.status) {
      case 403: return "CSRF verification failed. Reload the page and try again.";
      case 404: return "The requested resource could not be found.";
      case 429: return "Too many requests. Please slow down.";
      case 503: return "The service is temporarily unavailable, please try again.";
      default:
        return "An unexpected error was encountered while processing this request, please try again.";
    }
  }

  document.addEventListener("htmx:beforeSwap", function (evt) {
    var xhr = evt.detail.xhr;
    if (xhr.status < 400) return;
    if (xhr.getResponseHeader(INLINE_ERROR_HEADER)) {
      // Our own refusal, rendered to be shown where the action was taken.
      evt.detail.shouldSwap = true;
      evt.detail.isError = false;
      return;
    }
    evt.detail.shouldSwap = false;
    var elt = evt.detail.requestConfig && evt.detail.requestConfig.elt;
    if (isBackground(elt)) return;
    var text = messageFor(xhr);
    var status = notesStatus(elt);
    if (status) {
      setStatus(status, "error", "<strong>Not saved.</strong> ");
      status.firstChild.appendChild(document.createTextNode(text));
    }
    var result = testResult(elt);
    if (result) showTestResult(result, "error", text);
    showToast(text);
  });

  document.addEventListener("htmx:sendError", function (evt) {
    if (isBackground(evt.detail.elt)) return;
    var text = "Could not reach the panel. Check your connection and try again.";
    var status = notesStatus(evt.detail.elt);
    if (status) {
      setStatus(status, "error", "<strong>Not saved.</strong> ");
      status.firstChild.appendChild(document.createTextNode(text));
    }
    var result = testResult(evt.detail.elt);
    if (result) showTestResult(result, "error", text);
    showToast(text);
  });

  // A swap that removed the focused control (a removed row, a replaced header) would send
  // keyboard users back to the page's start: land them next to where they were.
  var focusWasInTarget = false;
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var active = document.activeElement;
    var target = evt.detail.target;
    focusWasInTarget = !!(active && active !== document.body && target && target.contains(active));
  });
  document.addEventListener("htmx:afterSwap", function (evt) {
    if (!focusWasInTarget) return;
    focusWasInTarget = false;
    if (document.activeElement && document.activeElement !== document.body) return;
    var header = document.getElementById("server-header");
    var landing = null;
    if (header && evt.detail.target && evt.detail.target.id === "server-header") {
      landing = header.querySelector(".server-power button") || header;
    } else {
      landing = document.getElementById("allocation-list");
    }
    if (landing) landing.focus();
  });
})();

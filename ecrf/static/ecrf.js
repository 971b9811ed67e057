// The form page: shows and hides conditional items live, with the same rule the server applies
// (ecrf/definitions.py: condition_holds). A hidden item is cleared, because the server refuses a
// value for an item its condition hides; one that holds a value is hidden only once the user agrees.
// It also guards unsaved changes, keeps Enter from submitting, asks the reason for change once per
// save, and runs query actions in place so that typed values stay on the page.
(function () {
  "use strict";

  function valueOf(form, prefix, oid) {
    var inputs = form.querySelectorAll('[name="' + prefix + oid + '"]');
    if (!inputs.length) return null;
    var first = inputs[0];
    if (first.type === "radio") {
      var checked = form.querySelector('[name="' + prefix + oid + '"]:checked');
      if (!checked) return null;
      return checked.value === "true" ? true : checked.value === "false" ? false : coerce(checked.value);
    }
    if (first.type === "checkbox") {
      var values = [];
      inputs.forEach(function (i) { if (i.checked) values.push(coerce(i.value)); });
      return values.length ? values : null;
    }
    if (first.value === "") return null;
    return coerce(first.value);
  }

  function coerce(text) {
    if (text !== "" && !isNaN(Number(text))) return Number(text);
    return text;
  }

  function holdsTest(test, value) {
    if ("const" in test && value !== test["const"] && String(value) !== String(test["const"])) return false;
    if ("enum" in test && test["enum"].map(String).indexOf(String(value)) < 0) return false;
    if ("contains" in test && !(Array.isArray(value) && value.map(String).indexOf(String(test.contains["const"])) >= 0)) return false;
    var numeric = typeof value === "number";
    if ("minimum" in test && !(numeric && value >= test.minimum)) return false;
    if ("maximum" in test && !(numeric && value <= test.maximum)) return false;
    if ("exclusiveMinimum" in test && !(numeric && value > test.exclusiveMinimum)) return false;
    if ("exclusiveMaximum" in test && !(numeric && value < test.exclusiveMaximum)) return false;
    return true;
  }

  function holds(condition, form, prefix) {
    var required = condition.required || [];
    for (var i = 0; i < required.length; i++) {
      if (valueOf(form, prefix, required[i]) === null) return false;
    }
    var props = condition.properties || {};
    for (var oid in props) {
      var value = valueOf(form, prefix, oid);
      if (value !== null && !holdsTest(props[oid], value)) return false;
    }
    return true;
  }

  function clear(element) {
    element.querySelectorAll("input, select, textarea").forEach(function (input) {
      if (input.type === "radio" || input.type === "checkbox") input.checked = false;
      else if (input.type !== "hidden") input.value = "";
    });
  }

  function filledText(element) {
    var parts = [];
    element.querySelectorAll("input, select, textarea").forEach(function (input) {
      if (input.type === "hidden" || input.type === "submit" || !isItemName(input.name)) return;
      if ((input.type === "radio" || input.type === "checkbox")) {
        if (input.checked) parts.push(optionText(input));
      } else if (input.value !== "") {
        parts.push(input.tagName === "SELECT" ? input.options[input.selectedIndex].text : input.value);
      }
    });
    return parts.join(", ");
  }

  // What the condition would hide now: each element that is shown.
  function toHide(form) {
    var hiding = [];
    form.querySelectorAll("[data-conditions]").forEach(function (element) {
      var conditions = JSON.parse(element.getAttribute("data-conditions"));
      var prefix = element.getAttribute("data-prefix") || "";
      var shown = conditions.some(function (c) { return holds(c, form, prefix); });
      if (!shown && !element.hidden) hiding.push(element);
      if (shown) element.hidden = false;
    });
    return hiding;
  }

  // Hides what its condition no longer shows. An item that holds a value is only hidden (and cleared)
  // once the user agrees (ask); else the answer that hid it is put back (restore).
  function refresh(form, ask, restore) {
    var hiding = toHide(form);
    var filled = hiding.filter(function (element) { return filledText(element) !== ""; });
    if (filled.length && ask) {
      var words = crfWords();
      var question = filled.map(function (element) {
        return words.hide.replace("{item}", element.getAttribute("data-label") || element.querySelector("legend").textContent.trim())
          .replace("{value}", filledText(element));
      }).join("\n");
      if (!window.confirm(question)) {
        restore();
        toHide(form);
        return;
      }
    } else if (filled.length) {
      hiding = hiding.filter(function (element) { return filled.indexOf(element) < 0; });
    }
    hiding.forEach(function (element) { clear(element); element.hidden = true; });
  }

  // ---- the form page: unsaved changes, Enter, reason for change, queries in place ----

  function crfWords() {
    var node = document.getElementById("crf-words");
    return node ? JSON.parse(node.textContent) : {leave: "", hide: "{item}: {value}?", empty: "", failed: "Failed"};
  }

  function isItemName(name) {
    return !!name && name !== "csrf_token" && name !== "version" && name !== "reason" &&
      name.charAt(0) !== "_" && name.indexOf("text:") !== 0;
  }

  function optionText(input) {
    var label = input.closest("label");
    return label ? label.textContent.trim() : input.value;
  }

  // name -> {raw: [values], text: "what the user sees"} of every item field of the form.
  function snapshot(form) {
    var values = {};
    Array.prototype.forEach.call(form.elements, function (input) {
      if (!isItemName(input.name) || input.type === "submit" || input.type === "button") return;
      var entry = values[input.name] || (values[input.name] = {raw: [], text: []});
      if (input.type === "radio" || input.type === "checkbox") {
        if (input.checked) { entry.raw.push(input.value); entry.text.push(optionText(input)); }
      } else if (input.tagName === "SELECT" && !input.multiple) {
        if (input.value !== "") { entry.raw.push(input.value); entry.text.push(input.options[input.selectedIndex].text); }
      } else if (input.type !== "hidden" && input.value !== "") {
        entry.raw.push(input.value); entry.text.push(input.value);
      }
    });
    return values;
  }

  function putBack(form, name, raw) {
    form.querySelectorAll('[name="' + name + '"]').forEach(function (input) {
      if (input.type === "radio" || input.type === "checkbox") input.checked = raw.indexOf(input.value) >= 0;
      else input.value = raw.length ? raw[0] : "";
    });
  }

  function changes(loaded, now) {
    var changed = [];
    Object.keys(loaded).concat(Object.keys(now)).forEach(function (name, index, all) {
      if (all.indexOf(name) !== index) return;
      var before = loaded[name] || {raw: [], text: []}, after = now[name] || {raw: [], text: []};
      if (before.raw.join("\u0001") !== after.raw.join("\u0001")) changed.push({name: name, before: before, after: after});
    });
    return changed;
  }

  function labelOf(form, name) {
    var item = document.getElementById("item-" + name);
    return item ? item.getAttribute("data-label") : name;
  }

  function askReason(form, submitter, changed, submit) {
    var dialog = document.getElementById("reason-dialog"), words = crfWords();
    var list = document.getElementById("reason-changes");
    list.textContent = "";
    changed.forEach(function (change) {
      var li = document.createElement("li");
      li.textContent = labelOf(form, change.name) + ": " + (change.before.text.join(", ") || words.empty) +
        " → " + (change.after.text.join(", ") || words.empty);
      list.appendChild(li);
    });
    var error = document.getElementById("reason-dialog-error");
    error.hidden = true;
    document.getElementById("reason-confirm").onclick = function () {
      var chosen = dialog.querySelector('input[name="_reason_choice"]:checked');
      var detail = document.getElementById("reason-detail").value.trim();
      var other = chosen && chosen === dialog.querySelectorAll('input[name="_reason_choice"]')[3];
      if (!chosen || (other && !detail)) { error.hidden = false; return; }
      form.querySelector("#reason").value = other ? detail : chosen.value + (detail ? ": " + detail : "");
      dialog.close();
      submit(submitter);
    };
    document.getElementById("reason-cancel").onclick = function () { dialog.close(); };
    dialog.showModal();
  }

  function queryInPlace(form, button) {
    var panel = button.closest(".query-panel");
    var body = new FormData(form);
    body.append("_query", button.value);
    body.append("_fragment", "1");
    body.append("_item", panel.getAttribute("data-panel"));
    button.disabled = true;
    fetch(button.formAction, {method: "POST", body: body, credentials: "same-origin"}).then(function (response) {
      return response.text().then(function (text) {
        if (response.ok) {
          var holder = document.createElement("div");
          holder.innerHTML = text;
          var fresh = holder.querySelector(".query-panel");
          panel.replaceWith(fresh);
          var item = fresh.closest(".item");
          if (item) item.classList.toggle("has-query", !!fresh.querySelector(".qcount"));
        } else {
          button.disabled = false;
          var note = panel.querySelector(".query-error") || document.createElement("p");
          note.className = "field-error query-error";
          note.setAttribute("role", "alert");
          note.textContent = crfWords().failed + ": " + text;
          panel.appendChild(note);
        }
      });
    });
  }

  function wire(form) {
    var loaded = snapshot(form), before = loaded, submitting = false;
    var unsaved = form.getAttribute("data-unsaved") === "true";
    refresh(form, false);
    form.addEventListener("input", function () { refresh(form, false); });
    form.addEventListener("focusin", function () { before = snapshot(form); });
    form.addEventListener("change", function (event) {
      var name = event.target.name;
      refresh(form, true, function () { putBack(form, name, (before[name] || {raw: []}).raw); });
      before = snapshot(form);
    });
    form.addEventListener("keydown", function (event) {
      var field = event.target;
      if (event.key === "Enter" && field.tagName === "INPUT" && field.type !== "submit" && field.type !== "button") {
        event.preventDefault();
      }
    });
    form.addEventListener("click", function (event) {
      var button = event.target.closest("[data-query-action]");
      if (button && window.fetch) { event.preventDefault(); queryInPlace(form, button); }
    });
    form.addEventListener("submit", function (event) {
      var submitter = event.submitter;
      var reason = form.querySelector("#reason");
      var rowAction = submitter && (submitter.name === "_add_row" || submitter.name === "_remove_row");
      if (!submitting && reason && !reason.value.trim() && !rowAction && form.getAttribute("data-has-record") === "true") {
        var changed = changes(loaded, snapshot(form)).filter(function (c) { return c.before.raw.length > 0; });
        if (changed.length) {
          event.preventDefault();
          askReason(form, submitter, changed, function (button) { submitting = true; form.requestSubmit(button); });
          return;
        }
      }
      submitting = true;
    });
    window.addEventListener("beforeunload", function (event) {
      if (submitting || (!unsaved && !changes(loaded, snapshot(form)).length)) return;
      event.preventDefault();
      event.returnValue = crfWords().leave;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form.crf").forEach(wire);
  });
})();

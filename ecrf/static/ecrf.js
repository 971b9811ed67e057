// Shows and hides conditional items live, with the same rule the server applies
// (ecrf/definitions.py: condition_holds). A hidden item is cleared, because the
// server refuses a value for an item its condition hides.
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

  function refresh(form) {
    form.querySelectorAll("[data-conditions]").forEach(function (element) {
      var conditions = JSON.parse(element.getAttribute("data-conditions"));
      var prefix = element.getAttribute("data-prefix") || "";
      var shown = conditions.some(function (c) { return holds(c, form, prefix); });
      if (!shown && !element.hidden) clear(element);
      element.hidden = !shown;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form.crf").forEach(function (form) {
      refresh(form);
      form.addEventListener("change", function () { refresh(form); });
      form.addEventListener("input", function () { refresh(form); });
    });
  });
})();

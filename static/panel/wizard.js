// The create wizards: steps, and each field checked as it is typed by the server's own form
// (GET <the form's URL>?validate=1&...: its errors as JSON), so the rules live once, in guests/forms.py.
"use strict";

(function () {
  const form = document.querySelector("form[data-wizard]");
  if (!form) return;
  const tabs = [...form.querySelectorAll("[data-step]")];
  const panels = [...form.querySelectorAll("[data-step-panel]")];
  const back = form.querySelector("[data-wizard-back]");
  const next = form.querySelector("[data-wizard-next]");
  let step = 0;

  function show(index) {
    step = Math.max(0, Math.min(index, panels.length - 1));
    panels.forEach((panel, i) => { panel.hidden = i !== step; });
    tabs.forEach((tab, i) => tab.setAttribute("aria-selected", String(i === step)));
    back.disabled = step === 0;
    next.disabled = step === panels.length - 1;
  }
  tabs.forEach((tab, i) => tab.addEventListener("click", () => show(i)));
  back.addEventListener("click", () => show(step - 1));
  next.addEventListener("click", () => { show(step + 1); panels[step].querySelector("input, select, textarea")?.focus(); });

  const touched = new Set();
  let errors = {};
  let asked = 0;

  function paint(all) {
    form.querySelectorAll("[data-error-for]").forEach((slot) => {
      const name = slot.dataset.errorFor;
      const messages = (all || touched.has(name)) ? (errors[name] || []) : [];
      slot.textContent = messages.join(" ");
      const field = slot.closest(".field");
      field.classList.toggle("invalid", messages.length > 0);
      const input = form.elements[name];
      if (input && input.setAttribute) {
        input.setAttribute("aria-invalid", String(messages.length > 0));
        input.setAttribute("aria-describedby", slot.id);
      }
    });
    panels.forEach((panel, i) => {
      const bad = [...panel.querySelectorAll("[data-error-for]")].some((slot) => slot.textContent);
      tabs[i].classList.toggle("has-error", bad);
    });
  }

  async function validate() {
    const mine = ++asked;
    const params = new URLSearchParams(new FormData(form));
    params.delete("csrfmiddlewaretoken");
    params.set("validate", "1");
    const response = await fetch(`${form.dataset.validateUrl}?${params}`, {credentials: "same-origin",
                                                                            headers: {Accept: "application/json"}});
    if (!response.ok) throw new Error(`validation answered ${response.status}`);
    const answer = await response.json();
    if (mine !== asked) return null;  // a later check is on its way
    errors = answer.errors || {};
    return errors;
  }

  let timer = null;
  const check = (name) => {
    if (name) touched.add(name);
    clearTimeout(timer);
    timer = setTimeout(() => validate().then((found) => { if (found) paint(false); }).catch(() => {}), 200);
  };
  form.addEventListener("input", (event) => check(event.target.name));
  form.addEventListener("change", (event) => check(event.target.name));

  let submitting = false;
  form.addEventListener("submit", (event) => {
    if (submitting) return;
    event.preventDefault();
    validate().then((found) => {
      if (found === null) return;
      if (Object.keys(found).length) {
        paint(true);
        const first = panels.findIndex((panel) => [...panel.querySelectorAll("[data-error-for]")].some((s) => s.textContent));
        show(first >= 0 ? first : step);
        const bad = panels[step].querySelector(".field.invalid input, .field.invalid select");
        bad?.focus();
        return;
      }
      submitting = true;
      form.submit();
    }).catch(() => { submitting = true; form.submit(); });  // the server checks it anyway
  });

  // The server's own answer to a post (a form drawn again with its errors) opens the first step in error.
  form.querySelectorAll("[data-error-for]").forEach((slot) => {
    if (slot.textContent.trim()) { errors[slot.dataset.errorFor] = [slot.textContent.trim()]; touched.add(slot.dataset.errorFor); }
  });
  const firstBad = panels.findIndex((panel) => panel.querySelector(".field.invalid"));
  show(firstBad >= 0 ? firstBad : 0);
  paint(false);
})();

// Tables wider than their card scroll sideways (static/css/site.css). While one does not fit, a line
// above it says so; the shadows at its edges and its focusable region work without this script.
(() => {
  const HINT = "Scroll the table sideways to see every column \u2192";
  const update = () => {
    document.querySelectorAll(".table-wrap").forEach((wrap) => {
      const scrollable = wrap.scrollWidth > wrap.clientWidth + 1;
      let hint = wrap.previousElementSibling;
      if (!(hint && hint.classList.contains("scroll-hint"))) {
        if (!scrollable) return;
        hint = document.createElement("p");
        hint.className = "scroll-hint";
        hint.setAttribute("aria-hidden", "true");  // the table itself is announced whole
        hint.textContent = HINT;
        wrap.before(hint);
      }
      hint.hidden = !scrollable;
      wrap.classList.toggle("is-scrollable", scrollable);
    });
  };
  let pending = 0;
  const later = () => {
    cancelAnimationFrame(pending);
    pending = requestAnimationFrame(update);
  };
  window.addEventListener("resize", later);
  // The progress page swaps the decision (and its schedule) in without a reload.
  new MutationObserver(later).observe(document.body, { childList: true, subtree: true });
  update();
})();

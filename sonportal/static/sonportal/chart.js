// Rate charts (templates/rates/list.html): pointing at a step, or focusing the chart and
// moving with the arrow keys, shows its time and rate under the chart and a guide line. The
// values are in the markup (each step's data-label and <title>); this only shows them.
(() => {
  const show = (hit) => {
    const svg = hit.ownerSVGElement;
    const box = svg.closest(".chart-box");
    const tip = box && box.querySelector(".chart-tip");
    if (!tip) return;
    tip.textContent = hit.dataset.label;
    tip.classList.remove("muted");
    svg.querySelectorAll(".chart-hit.on").forEach((el) => el.classList.remove("on"));
    hit.classList.add("on");
    const guide = svg.querySelector(".chart-guide");
    if (guide) {
      const x = String(parseFloat(hit.getAttribute("x")));
      guide.setAttribute("x1", x);
      guide.setAttribute("x2", x);
      guide.setAttribute("visibility", "visible");
    }
  };
  document.addEventListener("pointerover", (event) => {
    const hit = event.target.closest && event.target.closest(".chart-hit");
    if (hit) show(hit);
  });
  document.addEventListener("keydown", (event) => {
    const svg = event.target.closest && event.target.closest("svg.rate-chart");
    if (!svg || (event.key !== "ArrowLeft" && event.key !== "ArrowRight")) return;
    const hits = Array.from(svg.querySelectorAll(".chart-hit"));
    if (!hits.length) return;
    const at = hits.findIndex((el) => el.classList.contains("on"));
    const step = event.key === "ArrowRight" ? 1 : -1;
    const next = at < 0 ? (step > 0 ? 0 : hits.length - 1) : at + step;
    show(hits[Math.max(0, Math.min(hits.length - 1, next))]);
    event.preventDefault();
  });
})();

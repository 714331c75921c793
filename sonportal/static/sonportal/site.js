// The phone menu: the button opens and closes the main navigation (CSS hides it on narrow
// screens while closed). Without JavaScript the navigation is always shown.
document.documentElement.classList.add("js");
document.addEventListener("DOMContentLoaded", () => {
  const header = document.querySelector("header.top");
  const button = header && header.querySelector(".menu-toggle");
  if (!button) return;
  button.addEventListener("click", () => {
    const open = header.dataset.nav !== "open";
    header.dataset.nav = open ? "open" : "closed";
    button.setAttribute("aria-expanded", String(open));
  });
});

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

// Copy buttons: <button class="copy" data-copy="...">; says "Copied" for a moment.
document.addEventListener("click", (event) => {
  const button = event.target.closest && event.target.closest("button.copy");
  if (!button || !navigator.clipboard) return;
  navigator.clipboard.writeText(button.dataset.copy).then(() => {
    button.classList.add("copied");
    setTimeout(() => button.classList.remove("copied"), 1500);
  });
});

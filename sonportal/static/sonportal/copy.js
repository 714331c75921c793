// Buttons with data-copy="text" put the text on the clipboard and say so.
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button) return;
  navigator.clipboard.writeText(button.dataset.copy).then(function () {
    button.textContent = "Copied";
  }, function () {
    button.textContent = "Select and copy it by hand";
  });
});

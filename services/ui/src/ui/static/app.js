// Dashboard helpers. No inline scripts anywhere: the Content-Security-Policy forbids them.
(function () {
  "use strict";
  // Old-style links: /#/webhook-config, /#/webhooks, /#/docs land on their pages.
  if (location.pathname === "/") {
    var routes = { "#/webhook-config": "/dashboard/webhooks", "#/webhooks": "/dashboard/webhooks",
                   "#/docs": "/dashboard/docs", "#/transactions": "/dashboard/transactions" };
    location.replace(routes[location.hash] || "/dashboard");
  }
  // A new API key's secret is in the page that answered the create or roll POST: make this
  // history entry a plain GET of the list, so a reload neither re-posts nor shows it again.
  if (document.querySelector("[data-test-id=new-key]") && history.replaceState) {
    history.replaceState(null, "", "/dashboard/keys");
  }
  // The same for a new webhook endpoint secret (after a create or a rotation).
  if (document.querySelector("[data-test-id=new-endpoint-secret]") && history.replaceState) {
    history.replaceState(null, "", "/dashboard/endpoints");
  }
  // <button type="button" data-post="/path">: POST without a form of its own, with the page's
  // CSRF token (every dashboard page has one, in its log-out form).
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-post]");
    if (!button) return;
    var form = document.createElement("form");
    form.method = "post";
    form.action = button.getAttribute("data-post");
    var token = document.querySelector("input[name=csrf_token]");
    if (token) form.appendChild(token.cloneNode());
    document.body.appendChild(form);
    form.submit();
  });
})();

// Dashboard helpers. No inline scripts anywhere: the Content-Security-Policy forbids them.
(function () {
  "use strict";
  // Old-style links: /#/webhook-config, /#/webhooks, /#/docs land on their pages.
  if (location.pathname === "/") {
    var routes = { "#/webhook-config": "/dashboard/webhooks", "#/webhooks": "/dashboard/webhooks",
                   "#/docs": "/dashboard/docs", "#/transactions": "/dashboard/transactions" };
    location.replace(routes[location.hash] || "/dashboard");
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

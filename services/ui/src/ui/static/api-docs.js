// Swagger UI for the merged API document (templates/api_reference.html). "Authorize" takes the
// API key and secret (the test merchant's in test mode); "Try it out" calls this same host.
(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.url,
    dom_id: "#swagger-ui",
    deepLinking: true,
    docExpansion: "list",
    defaultModelsExpandDepth: 1,
    displayRequestDuration: true,
  });
})();

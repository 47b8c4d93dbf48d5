// Starts Swagger UI on this server's own OpenAPI document (kept out of the HTML so a strict CSP can apply).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: document.body.dataset.openapi,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    persistAuthorization: false,
  });
});

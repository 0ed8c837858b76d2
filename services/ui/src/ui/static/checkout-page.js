// The hosted checkout: choose a method, pay through the public API, poll every 2 s, and tell
// the embedding page (checkout.js) what happened, or take the customer back to the order's
// callback URL.
(function () {
  "use strict";
  var root = document.querySelector("[data-test-id=checkout-container]");
  // A paid order has nothing to choose: the page only says so.
  if (!root || !document.getElementById("choose")) return;
  var orderId = root.getAttribute("data-order-id");
  var callback = root.getAttribute("data-callback-url");
  var RETURN_AFTER_MS = 3000; // long enough to read "Payment Successful!"
  var embedded = root.getAttribute("data-embedded") === "true";
  var parentOrigin = embedded && document.referrer ? new URL(document.referrer).origin : null;
  var $ = function (id) { return root.querySelector("[data-test-id=" + id + "]"); };
  var choose = document.getElementById("choose");
  var forms = { upi: document.getElementById("upi-form"), card: document.getElementById("card-form") };
  var states = ["processing-state", "success-state", "error-state"];

  function show(state) {
    choose.hidden = state !== null;
    states.forEach(function (name) { $(name).hidden = name !== state; });
  }

  function tell(type, data) {
    // Only to the page that embedded us: never "*", so no other site reads the outcome.
    if (parentOrigin && window.parent !== window) window.parent.postMessage({ type: type, data: data }, parentOrigin);
  }

  root.querySelectorAll("[data-method]").forEach(function (button) {
    button.addEventListener("click", function () {
      var method = button.getAttribute("data-method");
      Object.keys(forms).forEach(function (name) { forms[name].hidden = name !== method; });
      root.querySelectorAll("[data-method]").forEach(function (b) {
        b.setAttribute("aria-pressed", String(b === button));
      });
      forms[method].querySelector("input").focus();
    });
    button.disabled = false;
  });

  // Back to the merchant with the ids (as Razorpay's callback_url): the merchant checks the
  // payment through its API before trusting them, since anyone can open such a URL.
  function goBack(paymentId) {
    if (!callback) return;
    var url = new URL(callback);
    url.searchParams.set("payment_id", paymentId);
    url.searchParams.set("order_id", orderId);
    $("return-to-merchant").href = url.toString();
    setTimeout(function () { window.location.assign(url.toString()); }, RETURN_AFTER_MS);
  }

  function fail(form, message) {
    var box = form.querySelector(".field-error");
    box.textContent = message;
    box.hidden = false;
  }

  function body(method, form) {
    if (method === "upi") return { order_id: orderId, method: "upi", vpa: form.vpa.value.trim() };
    var expiry = form.expiry.value.split("/");
    return { order_id: orderId, method: "card", card: {
      number: form.number.value, expiry_month: (expiry[0] || "").trim(), expiry_year: (expiry[1] || "").trim(),
      cvv: form.cvv.value, holder_name: form.holder_name.value } };
  }

  function poll(paymentId) {
    fetch("/checkout/api/payments/" + encodeURIComponent(paymentId))
      .then(function (response) { return response.json(); })
      .then(function (payment) {
        if (payment.status === "success") {
          $("payment-id").textContent = payment.id;
          show("success-state");
          tell("payment_success", { paymentId: payment.id });
          goBack(payment.id);
        } else if (payment.status === "failed") {
          $("error-message").textContent = payment.error_description || "Payment could not be completed";
          $("failed-payment-id").textContent = payment.id;
          show("error-state");
          tell("payment_failed", { paymentId: payment.id, error: payment.error_code });
        } else {
          setTimeout(function () { poll(paymentId); }, 2000);
        }
      })
      .catch(function () { setTimeout(function () { poll(paymentId); }, 2000); });
  }

  // One Idempotency-Key per payment attempt: a double click or a retry after a network error
  // sends the same key, so the gateway makes one payment. A new attempt (the form changed after
  // an error, or "Try Again") gets a new key.
  var attemptKey = null;
  var sending = false;

  function newKey() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return "chk_" + Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  Object.keys(forms).forEach(function (method) {
    var form = forms[method];
    form.addEventListener("input", function () { if (!sending) attemptKey = null; });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (sending) return;
      sending = true;
      attemptKey = attemptKey || newKey();
      form.querySelector(".field-error").hidden = true;
      fetch("/checkout/api/payments", { method: "POST",
                                        headers: { "Content-Type": "application/json", "Idempotency-Key": attemptKey },
                                        body: JSON.stringify(body(method, form)) })
        .then(function (response) { return response.json().then(function (json) { return [response.status, json]; }); })
        .then(function (answer) {
          sending = false;
          if (answer[0] !== 201) { fail(form, (answer[1].error || {}).description || "Payment could not be created"); return; }
          show("processing-state");
          setTimeout(function () { poll(answer[1].id); }, 2000);
        })
        .catch(function () { sending = false; fail(form, "Network error, please try again"); });
    });
  });

  $("retry-button").addEventListener("click", function () {
    Object.keys(forms).forEach(function (name) { forms[name].reset(); });
    attemptKey = null;
    show(null);
  });
})();

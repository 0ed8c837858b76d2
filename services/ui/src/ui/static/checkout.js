/*! checkout.js: embed the payment gateway's checkout in your page.
 *
 *   <script src="https://checkout.example/checkout.js"></script>
 *   new PaymentGateway({ key, orderId, onSuccess, onFailure, onClose }).open();
 *
 * Plain ES5, no build step. Sets window.PaymentGateway to the class itself.
 */
(function (global) {
  "use strict";
  var script = document.currentScript;
  // The checkout lives where this script was served from; messages from anywhere else are ignored.
  var CHECKOUT_ORIGIN = script ? new URL(script.src, location.href).origin : location.origin;
  var STYLE_ID = "payment-gateway-styles";
  var CSS =
    "#payment-gateway-modal{position:fixed;inset:0;z-index:2147483000}" +
    "#payment-gateway-modal .modal-overlay{position:absolute;inset:0;background:rgba(15,23,42,.55);" +
    "display:flex;align-items:center;justify-content:center;z-index:2147483000}" +
    "#payment-gateway-modal .modal-content{position:relative;width:min(440px,100vw);height:min(640px,100vh);" +
    "background:#fff;border-radius:12px;overflow:hidden;box-shadow:0 20px 50px rgba(0,0,0,.3)}" +
    "#payment-gateway-modal iframe{width:100%;height:100%;border:0}" +
    "#payment-gateway-modal .close-button{position:absolute;top:8px;right:10px;border:0;background:transparent;" +
    "font-size:26px;line-height:1;cursor:pointer;color:#475569}" +
    "@media (max-width:480px){#payment-gateway-modal .modal-content{width:100vw;height:100vh;border-radius:0}}";

  function PaymentGateway(options) {
    if (!(this instanceof PaymentGateway)) return new PaymentGateway(options);
    options = options || {};
    if (!options.key || !options.orderId) throw new Error("PaymentGateway: key and orderId are required");
    this.options = options;
    this.modal = null;
    this._onMessage = this._onMessage.bind(this);
  }

  PaymentGateway.prototype.open = function () {
    if (this.modal) return;
    if (!document.getElementById(STYLE_ID)) {
      var style = document.createElement("style");
      style.id = STYLE_ID;
      style.textContent = CSS;
      document.head.appendChild(style);
    }
    var modal = document.createElement("div");
    modal.id = "payment-gateway-modal";
    modal.setAttribute("data-test-id", "payment-modal");
    modal.innerHTML =
      '<div class="modal-overlay"><div class="modal-content" role="dialog" aria-modal="true" aria-label="Payment">' +
      '<iframe data-test-id="payment-iframe" title="Payment"></iframe>' +
      '<button class="close-button" data-test-id="close-modal-button" type="button" aria-label="Close">\u00d7</button>' +
      "</div></div>";
    var iframe = modal.querySelector("iframe");
    iframe.src = CHECKOUT_ORIGIN + "/checkout?order_id=" + encodeURIComponent(this.options.orderId) + "&embedded=true";
    modal.querySelector(".close-button").addEventListener("click", this.close.bind(this));
    document.body.appendChild(modal);
    this.modal = modal;
    global.addEventListener("message", this._onMessage);
  };

  PaymentGateway.prototype.close = function () {
    if (!this.modal) return;
    global.removeEventListener("message", this._onMessage);
    this.modal.parentNode.removeChild(this.modal);
    this.modal = null;
    if (typeof this.options.onClose === "function") this.options.onClose();
  };

  PaymentGateway.prototype._onMessage = function (event) {
    if (event.origin !== CHECKOUT_ORIGIN || !event.data || typeof event.data !== "object") return;
    var type = event.data.type, data = event.data.data;
    if (type === "payment_success") {
      if (typeof this.options.onSuccess === "function") this.options.onSuccess(data);
      this.close();
    } else if (type === "payment_failed") {
      if (typeof this.options.onFailure === "function") this.options.onFailure(data);
    } else if (type === "close_modal") {
      this.close();
    }
  };

  global.PaymentGateway = PaymentGateway;
})(window);
